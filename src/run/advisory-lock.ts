import { type SQL, sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from './database.js';
import { rowsOf } from './rows.js';

/**
 * The maintenance lock: one pgparts run per database at a time. A session-level advisory lock
 * (pg_try_advisory_lock: it never waits), taken and released on the run's pinned connection
 * (session.ts), and released by the server if that connection dies. Advisory locks are per
 * database, so runs against two databases of one server do not exclude each other.
 *
 * The key is the pair (1885826145, 1920234240), 'pgpa' and 'rts\0' in ASCII; in pg_locks:
 * `locktype = 'advisory' AND classid = 1885826145 AND objid = 1920234240 AND objsubid = 2`.
 */
export const MAINTENANCE_LOCK_KEY: readonly [number, number] = [1885826145, 1920234240];

export type LockKey = readonly [number, number];

function checkKey(key: LockKey): void {
  if (!key.every((k) => Number.isInteger(k) && k >= -2147483648 && k <= 2147483647)) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: an advisory lock key is two 32-bit integers, not ${JSON.stringify(key)}`,
    );
  }
}

export interface LockAttempt {
  acquired: boolean;
  /** Backend pid of the session that holds it: this one when acquired, the other one when not. */
  holderPid: number | null;
}

/**
 * Tries to take the lock on this connection, without waiting. `alongside`, a SELECT of one row,
 * is read in the same statement (one round trip): its columns come back in `row`.
 */
export async function tryAdvisoryLock(
  db: AnyPgDatabase,
  key: LockKey = MAINTENANCE_LOCK_KEY,
  alongside?: SQL,
): Promise<LockAttempt & { row: Record<string, unknown> }> {
  checkKey(key);
  const attempt = sql`SELECT pg_try_advisory_lock(${key[0]}::int4, ${key[1]}::int4) AS acquired, pg_backend_pid() AS pid`;
  // Handed to the driver now (an explicit `then`; `await` of a driver's lazy query would hand it
  // over a step later), so it goes out before whatever the caller sends right after this call.
  const [row] = await db
    .execute(alongside ? sql`SELECT * FROM (${attempt}) l, (${alongside}) a` : attempt)
    .then((result) => rowsOf<Record<string, unknown>>(result));
  const read = row ?? {};
  if (read.acquired === true) return { acquired: true, holderPid: Number(read.pid), row: read };
  return { acquired: false, holderPid: await lockHolder(db, key), row: read };
}

/** The backend pid holding the lock in this database, or null when nobody does. */
export async function lockHolder(
  db: AnyPgDatabase,
  key: LockKey = MAINTENANCE_LOCK_KEY,
): Promise<number | null> {
  checkKey(key);
  const [row] = rowsOf<{ pid: number }>(
    await db.execute(sql`
      SELECT pid FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objsubid = 2
        AND classid::bigint = (${key[0]}::int4::bigint & 4294967295)
        AND objid::bigint = (${key[1]}::int4::bigint & 4294967295)
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      LIMIT 1`),
  );
  return row ? Number(row.pid) : null;
}

/** Releases the lock taken on this connection; false when this connection did not hold it. */
export async function releaseAdvisoryLock(
  db: AnyPgDatabase,
  key: LockKey = MAINTENANCE_LOCK_KEY,
): Promise<boolean> {
  checkKey(key);
  const [row] = rowsOf<{ released: boolean }>(
    await db.execute(sql`SELECT pg_advisory_unlock(${key[0]}::int4, ${key[1]}::int4) AS released`),
  );
  return row?.released === true;
}
