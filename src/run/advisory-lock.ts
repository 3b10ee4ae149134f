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

/** Whether `key` is two 32-bit integers, what pg_advisory_lock(int4, int4) takes. */
export function isLockKey(key: readonly number[]): key is LockKey {
  return (
    key.length === 2 && key.every((k) => Number.isInteger(k) && k >= -2147483648 && k <= 2147483647)
  );
}

function checkKey(key: LockKey): void {
  if (!isLockKey(key)) {
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
  /**
   * The server session this connection reached already held the lock before the attempt: not
   * taken again (a session's advisory locks stack, so pg_try_advisory_lock would say true).
   * Two clients share one server session only behind a transaction-mode pooler.
   */
  heldHere?: boolean;
  /** Given a session token: the attempt ran in another server session than the token's. */
  elsewhere?: boolean;
}

/** The lock's row in pg_locks, for this database (the server keeps advisory locks per database). */
function lockRowSql(key: LockKey): SQL {
  return sql`locktype = 'advisory' AND granted AND objsubid = 2
        AND classid::bigint = (${key[0]}::int4::bigint & 4294967295)
        AND objid::bigint = (${key[1]}::int4::bigint & 4294967295)
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
}

/**
 * Tries to take the lock on this connection, without waiting. `alongside`, a SELECT of one row,
 * is read in the same statement (one round trip): its columns come back in `row`.
 */
export async function tryAdvisoryLock(
  db: AnyPgDatabase,
  key: LockKey = MAINTENANCE_LOCK_KEY,
  alongside?: SQL,
  session?: { setting: string; token: string },
): Promise<LockAttempt & { row: Record<string, unknown> }> {
  checkKey(key);
  // Taken only where this server session does not hold it yet: read first (the subquery runs
  // before the CASE), so a lock held here by someone else is not stacked and reported as ours;
  // and, given `session`, only in the server session whose setting holds its token (elsewhere
  // `elsewhere` is true and nothing is taken).
  const elsewhere = session
    ? sql`current_setting(${session.setting}, true) IS DISTINCT FROM ${session.token}::text`
    : sql`false`;
  const attempt = sql`SELECT CASE WHEN h.elsewhere OR h.held THEN false
                                  ELSE pg_try_advisory_lock(${key[0]}::int4, ${key[1]}::int4) END AS acquired,
                             pg_backend_pid() AS pid, h.held AS held_here, h.elsewhere
                      FROM (SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND
                                           ${lockRowSql(key)}) AS held, ${elsewhere} AS elsewhere
                            OFFSET 0) h`;
  // Handed to the driver now (an explicit `then`; `await` of a driver's lazy query would hand it
  // over a step later), so it goes out before whatever the caller sends right after this call.
  const [row] = await db
    .execute(alongside ? sql`SELECT * FROM (${attempt}) l, (${alongside}) a` : attempt)
    .then((result) => rowsOf<Record<string, unknown>>(result));
  const read = row ?? {};
  if (read.acquired === true) return { acquired: true, holderPid: Number(read.pid), row: read };
  if (read.elsewhere === true) {
    return { acquired: false, holderPid: null, elsewhere: true, row: read };
  }
  if (read.held_here === true) {
    return { acquired: false, holderPid: Number(read.pid), heldHere: true, row: read };
  }
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
      SELECT pid FROM pg_locks WHERE ${lockRowSql(key)} LIMIT 1`),
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

/**
 * Takes the lock `key` on this connection, waiting for as long as another session holds it, but
 * without a statement waiting on the server: pg_try_advisory_lock is tried again after a pause
 * (50 ms, doubling up to 1 s). A blocking pg_advisory_lock would sit in a statement, and so in a
 * transaction, for the whole wait, and a CREATE INDEX CONCURRENTLY run by the holder waits for
 * every transaction older than its own to end: the holder waits for the waiter, which waits for
 * the holder, and the server breaks the cycle by failing one of them (deadlock detected).
 */
export async function waitForAdvisoryLock(
  db: AnyPgDatabase,
  key: LockKey,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((done) => setTimeout(done, ms)),
): Promise<void> {
  checkKey(key);
  for (let pause = 50; ; pause = Math.min(pause * 2, 1_000)) {
    const [row] = rowsOf<{ acquired: boolean }>(
      await db.execute(
        sql`SELECT pg_try_advisory_lock(${key[0]}::int4, ${key[1]}::int4) AS acquired`,
      ),
    );
    if (row?.acquired === true) return;
    await sleep(pause);
  }
}
