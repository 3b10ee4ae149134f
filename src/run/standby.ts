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

/** Throws an `unsupported-server` PgpartsError before `operation` changes anything on a standby. */
export async function assertNotStandby(db: AnyPgDatabase, operation: string): Promise<void> {
  if (await isHotStandby(db)) {
    throw new PgpartsError('unsupported-server', standbyMessage(operation), { step: operation });
  }
}
