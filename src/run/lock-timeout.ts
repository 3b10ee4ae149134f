import { z } from 'zod';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from './database.js';
import { afterSentOn, runAsTransaction, runInTransaction } from './execute.js';
import { pgErrorCode, pgErrorMessage } from './pg-error.js';

/**
 * The one retry loop for work that takes locks on live tables. A statement waiting for a lock
 * makes every later query on that table queue behind it, so pgparts waits at most
 * `lock_timeout` (500 ms by default), gives up, lets the queue drain, pauses (exponential, with
 * jitter so two runs never retry in step) and tries again. Retried: lock_not_available (55P03,
 * our own lock_timeout) and deadlock_detected (40P01: the server chose pgparts's transaction
 * as the victim; the app's went on). Anything else ends the retries at once. When the retries
 * run out the work gives up cleanly (its transaction rolled back) with a `lock-timeout` error.
 *
 * The default stays below PostgreSQL's deadlock_timeout (1 s by default) on purpose: when an
 * app transaction and pgparts wait on each other, pgparts's lock_timeout fires before the
 * app's deadlock check would, so pgparts gives up and the app's transaction is never the one
 * aborted (docs/postgres-behaviours.md#lock-levels).
 */

/** How long one statement may wait for a lock, by default: the longest a writer queues behind it. */
export const DEFAULT_LOCK_TIMEOUT_MS = 500;
/** Tries after the first, by default. */
export const DEFAULT_RETRIES = 8;
/** The first pause between tries; it doubles each time up to MAX_BACKOFF_MS. */
export const DEFAULT_BACKOFF_MS = 250;
export const MAX_BACKOFF_MS = 8_000;

/** lock_not_available: a statement gave up waiting for a lock (lock_timeout). */
const LOCK_NOT_AVAILABLE = '55P03';
/** deadlock_detected: the server aborted this transaction to break a lock cycle. */
const DEADLOCK_DETECTED = '40P01';

/** The longest lock_timeout pgparts takes (ten minutes): a wait longer than that is no short wait. */
export const MAX_LOCK_TIMEOUT_MS = 600_000;
export const MAX_RETRIES = 1_000;

/** The options every operation that takes locks accepts, under these names. */
export const lockOptionsSchema = z.object({
  /** lock_timeout of each statement that takes a lock on a live table, ms. */
  lockTimeoutMs: z.number().int().min(1).max(MAX_LOCK_TIMEOUT_MS).optional(),
  /** Tries after the first when the lock could not be had (timeout or deadlock). */
  retries: z.number().int().min(0).max(MAX_RETRIES).optional(),
});

export type LockOptions = z.infer<typeof lockOptionsSchema>;

/** `lock_timeout = '500ms'` for SET / SET LOCAL; only a positive integer of milliseconds passes. */
export function lockTimeoutSql(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new PgpartsError(
      'invalid-config',
      `lock timeout must be a positive whole number of ms, not ${ms}`,
    );
  }
  return `lock_timeout = '${ms}ms'`;
}

/**
 * What every transaction that locks live tables runs first: the short lock_timeout, and no JIT
 * (SET LOCAL both, as one statement).
 * Under PostgreSQL's default `jit = on` a statement whose estimated cost passes jit_above_cost
 * is compiled before it runs (tens to hundreds of ms), and the locks are held while it compiles;
 * pgparts's statements under locks are small, so compiling never pays for itself there.
 */
export function lockedTransactionSql(lockTimeoutMs: number): string[] {
  lockTimeoutSql(lockTimeoutMs); // refuses anything but a positive whole number of ms
  // Both in one statement (one round trip): set_config(..., true) is SET LOCAL.
  return [
    `SELECT set_config('lock_timeout', '${lockTimeoutMs}ms', true), set_config('jit', 'off', true)`,
  ];
}

/**
 * True for the errors the loop retries: lock_timeout (55P03) and deadlock (40P01). Not for a
 * `lock-timeout` PgpartsError: that is work which already retried and gave up.
 */
export function isLockConflict(error: unknown): boolean {
  if (error instanceof PgpartsError) return false;
  const code = pgErrorCode(error);
  return code === LOCK_NOT_AVAILABLE || code === DEADLOCK_DETECTED;
}

export interface RetryOptions {
  /** Tries after the first one. */
  retries?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Called before each pause, with the error that caused it. */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void | Promise<void>;
  /** For tests: how to wait. */
  sleep?: (ms: number) => Promise<void>;
}

export interface RetryOutcome<T> {
  value?: T;
  /** Each failed attempt's message (lock timeouts and deadlocks; other errors end the retries). */
  lockTimeouts: string[];
  attempts: number;
  /** Set when every attempt hit a lock conflict, or another error ended it. */
  error?: unknown;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The pause before retry number `attempt` (1-based): exponential from `backoffMs`, capped, then
 * jittered between half and all of it, so runs that collided once do not collide again.
 */
export function backoffDelay(attempt: number, backoffMs: number, maxBackoffMs: number): number {
  const base = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
  return Math.round(base * (0.5 + Math.random() * 0.5));
}

/**
 * Runs `action` until it succeeds, retrying only when it failed on a lock conflict (55P03 or
 * 40P01), at most `retries` more times. Never throws: the outcome says what happened.
 */
export async function retryOnLockTimeout<T>(
  action: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<RetryOutcome<T>> {
  const retries = options.retries ?? DEFAULT_RETRIES;
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
  const maxBackoffMs = options.maxBackoffMs ?? MAX_BACKOFF_MS;
  const sleep = options.sleep ?? defaultSleep;
  const lockTimeouts: string[] = [];
  for (let attempt = 1; ; attempt += 1) {
    try {
      const value = await action(attempt);
      return { value, lockTimeouts, attempts: attempt };
    } catch (error) {
      if (!isLockConflict(error)) return { lockTimeouts, attempts: attempt, error };
      lockTimeouts.push(pgErrorMessage(error));
      if (attempt > retries) return { lockTimeouts, attempts: attempt, error };
      const delay = backoffDelay(attempt, backoffMs, maxBackoffMs);
      await options.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}

/**
 * The error for work that never got its locks: which, how often, and what to do. Keeps the
 * server's error as `cause` (so its SQLSTATE stays readable).
 */
export function lockGiveUpError(
  what: string,
  attempts: number,
  lockTimeoutMs: number,
  cause: unknown,
): PgpartsError {
  const deadlock = pgErrorCode(cause) === DEADLOCK_DETECTED;
  return new PgpartsError(
    'lock-timeout',
    `${what}: gave up after ${attempt(attempts)}: ` +
      (deadlock
        ? 'the last one was chosen as a deadlock victim'
        : `each waited lock_timeout (${lockTimeoutMs} ms)`) +
      ' for a lock another session holds (a long query or transaction); nothing was changed by ' +
      'the attempts: run again at a quieter time, or raise --lock-timeout / --retries ' +
      '(lockTimeoutMs / retries in the API)',
    { step: what, docs: 'docs/locking.md', cause },
  );
}

function attempt(n: number): string {
  return n === 1 ? '1 attempt' : `${n} attempts`;
}

export interface ShortTransactionOptions extends RetryOptions {
  lockTimeoutMs?: number;
  /** What the work is, for the error when it gives up. */
  what?: string;
}

/**
 * Work on live tables: one transaction that starts with `lockedTransactionSql` (lock_timeout,
 * no JIT), retried from the start when it could not get its locks. Returns the body's value and
 * the attempts it took; throws a `lock-timeout` PgpartsError when the retries run out, and any
 * other error as it came.
 */
export async function inLockedTransaction<T>(
  db: AnyPgDatabase,
  options: ShortTransactionOptions,
  body: (tx: AnyPgDatabase, attempt: number) => Promise<T>,
): Promise<{ value: T; attempts: number }> {
  const settings = lockedTransactionSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  return retryLocked(options, (n) =>
    db.transaction(async (tx) => {
      // The settings go out with the body's first statement, not a round trip of their own.
      const [, value] = await afterSentOn(tx, runInTransaction(tx, settings), () =>
        body(tx as unknown as AnyPgDatabase, n),
      );
      return value;
    }),
  );
}

/**
 * inLockedTransaction for a transaction that is `statements` and nothing else: BEGIN, the
 * settings, the statements and COMMIT are sent together (runAsTransaction), so the locks they
 * take are held for the statements' own time. Returns the attempts it took.
 */
export async function runLockedTransaction(
  db: AnyPgDatabase,
  options: ShortTransactionOptions,
  statements: readonly string[],
): Promise<number> {
  const settings = lockedTransactionSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  return (await retryLocked(options, () => runAsTransaction(db, [...settings, ...statements])))
    .attempts;
}

/** retryOnLockTimeout, throwing a `lock-timeout` PgpartsError when the retries run out. */
async function retryLocked<T>(
  options: ShortTransactionOptions,
  action: (attempt: number) => Promise<T>,
): Promise<{ value: T; attempts: number }> {
  const outcome = await retryOnLockTimeout(action, options);
  if (outcome.error !== undefined) {
    throw outcomeError(
      outcome,
      options.what ?? 'taking locks',
      options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    );
  }
  return { value: outcome.value as T, attempts: outcome.attempts };
}

/**
 * What a failed retryOnLockTimeout outcome throws: lockGiveUpError for `what` when its last
 * attempt met a lock conflict (the retries ran out), else the error that ended it.
 */
export function outcomeError(
  outcome: RetryOutcome<unknown>,
  what: string,
  lockTimeoutMs: number,
): unknown {
  return isLockConflict(outcome.error)
    ? lockGiveUpError(what, outcome.attempts, lockTimeoutMs, outcome.error)
    : outcome.error;
}

/** `inLockedTransaction` for callers that need the value only. */
export async function inShortTransaction<T>(
  db: AnyPgDatabase,
  options: ShortTransactionOptions,
  body: (tx: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  return (await inLockedTransaction(db, options, (tx) => body(tx))).value;
}
