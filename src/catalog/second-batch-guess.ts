import type { AnyPgDatabase } from '../run/database.js';
import { sendPrepared } from '../run/prepared-statement.js';
import { type BuiltBatch, sameBatch, sendBatch } from './batch.js';
import { rememberRecent } from './recent.js';

/**
 * The second catalog batch (each family's records and each DEFAULT's first look) depends on what
 * the first one answers, which is why it waits for it: one round trip more. From one run to the
 * next on the same families it is most often the very same statements. So a run in a session
 * (apply's pinned connection, on a driver that sends statements without waiting: postgres.js)
 * sends the ones it sent last time right behind the first batch, before the lock attempt ahead
 * of them has answered: the server runs them after the first batch, in the round trip that
 * already carries the lock attempt, and a run with nothing to do waits for two round trips, not
 * three. The guess's answers are used only when the run goes on (it holds the lock and passed
 * its checks) and the statements it builds from the first batch's answer are the same texts with
 * the same parameters. Otherwise (a partition made or dropped, a key that moved, the first run
 * in the process) they are dropped and the second batch is sent as before.
 *
 * The guess reads and changes nothing; outside any transaction, its probes of DEFAULT hold an
 * ACCESS SHARE lock for one statement, as every run's do. It waits for a lock at most
 * GUESS_LOCK_TIMEOUT_MS: a run that finds the maintenance lock taken, while the run holding it
 * holds a DEFAULT (an ATTACH, a drain's last step), returns at once rather than after the
 * session's lock_timeout, and a run that goes on sends its own second batch, which waits and
 * retries as every read does. A guess that fails (that lock, a table gone, a privilege revoked)
 * costs only its own statements, and is forgotten: the next run does not send it again.
 */
const lastSecondBatch = new Map<string, BuiltBatch[]>();
const REMEMBERED_BATCHES = 32;

/** How long a guess's statement waits for a lock before it fails (lock_timeout). */
export const GUESS_LOCK_TIMEOUT_MS = 10;

/** The batches the last run on these families (`key`) sent second, if any. */
export function rememberedSecondBatch(key: string): BuiltBatch[] | undefined {
  return lastSecondBatch.get(key);
}

export function rememberSecondBatch(key: string, batches: BuiltBatch[]): void {
  rememberRecent(lastSecondBatch, key, batches, REMEMBERED_BATCHES);
}

/** A statement setting the session's lock_timeout: no parameters, so no describe first. */
function lockTimeoutStatement(ms: number) {
  return { sql: `SELECT set_config('lock_timeout', '${Math.trunc(ms)}ms', false)`, params: [] };
}

/**
 * Sends the remembered batches for `key` with lock_timeout at GUESS_LOCK_TIMEOUT_MS, then back
 * at `lockTimeoutMs` (the read's own, set for the session ahead of it), all without waiting:
 * the same path as the batches (sendPrepared), so the connection gets them in this order. Their
 * rows, batch by batch; a failure forgets the guess.
 */
export function sendGuess(
  db: AnyPgDatabase,
  key: string,
  guess: readonly BuiltBatch[],
  lockTimeoutMs: number,
): Promise<Record<string, unknown>[][][]> {
  const shortened = sendPrepared(
    db,
    'guess_lock_timeout',
    lockTimeoutStatement(GUESS_LOCK_TIMEOUT_MS),
  );
  const answers = sendBatches(db, guess);
  const restored = sendPrepared(db, 'guess_lock_timeout', lockTimeoutStatement(lockTimeoutMs));
  // What fails here is the guess's own business: its statements change nothing, and a failed
  // restore means a lost connection, which the read's next statement meets.
  Promise.resolve(shortened).catch(() => {});
  Promise.resolve(restored).catch(() => {});
  answers.catch(() => {
    if (lastSecondBatch.get(key) === guess) lastSecondBatch.delete(key);
  });
  return answers;
}

/** Sends the batches one behind the other without waiting; their rows, batch by batch. */
export function sendBatches(
  db: AnyPgDatabase,
  batches: readonly BuiltBatch[],
): Promise<Record<string, unknown>[][][]> {
  return Promise.all(batches.map((batch) => sendBatch(db, batch)));
}

export function sameBatches(a: readonly BuiltBatch[], b: readonly BuiltBatch[]): boolean {
  return a.length === b.length && a.every((batch, i) => sameBatch(batch, b[i] as BuiltBatch));
}
