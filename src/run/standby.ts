import { sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from './database.js';
import { rowsOf } from './rows.js';

/** True when the server is a hot standby (in recovery): it answers reads and refuses changes. */
export async function isHotStandby(db: AnyPgDatabase): Promise<boolean> {
  const [row] = rowsOf<{ standby: boolean }>(
    await db.execute(sql`SELECT pg_is_in_recovery() AS standby`),
  );
  return row?.standby === true;
}

/** The message for `operation` refused on a hot standby. */
export function standbyMessage(operation: string): string {
  return (
    `${operation}: the server is a hot standby (pg_is_in_recovery() is true) and accepts no ` +
    'changes; nothing was done. Run it against the primary (status and plan work on a standby).'
  );
}

/**
 * The message for `operation` refused on a server that is no standby but whose transactions are
 * read-only (default_transaction_read_only on for the database or the role: a fail-over or a
 * maintenance window), which would refuse its first change part-way.
 */
export function readOnlyMessage(operation: string): string {
  return (
    `${operation}: the database is read-only (transaction_read_only is on: ` +
    'default_transaction_read_only is set for the database or the role) and accepts no changes; ' +
    'nothing was done. Run it again once it takes writes (status and plan work meanwhile).'
  );
}

/** Why the server takes no changes from this session: 'standby', 'read-only', or null. */
export async function refusesChanges(db: AnyPgDatabase): Promise<'standby' | 'read-only' | null> {
  const [row] = rowsOf<{ standby: boolean; read_only: boolean }>(
    await db.execute(
      sql`SELECT pg_is_in_recovery() AS standby, current_setting('transaction_read_only') = 'on' AS read_only`,
    ),
  );
  return row?.standby === true ? 'standby' : row?.read_only === true ? 'read-only' : null;
}

/** The message for `operation` on a server that `refusesChanges` for `why`. */
export function noChangesMessage(operation: string, why: 'standby' | 'read-only'): string {
  return why === 'standby' ? standbyMessage(operation) : readOnlyMessage(operation);
}

/** Throws an `unsupported-server` PgpartsError before `operation` changes anything on a standby. */
export async function assertNotStandby(db: AnyPgDatabase, operation: string): Promise<void> {
  if (await isHotStandby(db)) {
    throw new PgpartsError('unsupported-server', standbyMessage(operation), { step: operation });
  }
}
