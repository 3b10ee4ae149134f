import { sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from './database.js';
import { isLockNotAvailable, pgErrorMessage } from './pg-error.js';

/**
 * Short lock waits and bounded retries for DDL against live tables (docs/postgres-behaviours.md#lock-levels): a DDL statement
 * waiting for its lock makes every later query on the table wait behind it, so it waits at most
 * `lock_timeout`, gives up (SQLSTATE 55P03), lets the queue drain, and tries again later.
 */

/** How long one DDL statement may wait for a lock, by default. */
export const DEFAULT_LOCK_TIMEOUT_MS = 3000;
/** Tries after the first, by default. */
export const DEFAULT_RETRIES = 4;
/** The first pause between tries; it doubles each time up to MAX_BACKOFF_MS. */
export const DEFAULT_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 15_000;

/** `lock_timeout = '3000ms'` for SET / SET LOCAL; only a positive integer of milliseconds passes. */
export function lockTimeoutSql(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: lock timeout must be a positive whole number of ms, not ${ms}`,
    );
  }
  return `lock_timeout = '${ms}ms'`;
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
  /** Each failed attempt's message (lock timeouts only; other errors end the retries). */
  lockTimeouts: string[];
  attempts: number;
  /** Set when every attempt hit the lock timeout, or another error ended it. */
  error?: unknown;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The pause before retry number `attempt` (1-based): exponential from `backoffMs`, capped, with
 * up to 25% jitter so two instances do not retry in step.
 */
export function backoffDelay(attempt: number, backoffMs: number, maxBackoffMs: number): number {
  const base = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.25));
}

/**
 * Runs `action` until it succeeds, retrying only when it failed on lock_timeout (55P03), at most
 * `retries` more times. Never throws: the outcome says what happened.
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
      if (!isLockNotAvailable(error)) return { lockTimeouts, attempts: attempt, error };
      lockTimeouts.push(pgErrorMessage(error));
      if (attempt > retries) return { lockTimeouts, attempts: attempt, error };
      const delay = backoffDelay(attempt, backoffMs, maxBackoffMs);
      await options.onRetry?.(attempt, delay, error);
      await sleep(delay);
    }
  }
}

export interface ShortTransactionOptions {
  lockTimeoutMs?: number;
  retries?: number;
  onRetry?: RetryOptions['onRetry'];
}

/**
 * DDL against live tables: one transaction with SET LOCAL lock_timeout, retried from the start
 * when a statement gave up waiting for its lock. Throws the last error when retries run out.
 */
export async function inShortTransaction<T>(
  db: AnyPgDatabase,
  options: ShortTransactionOptions,
  body: (tx: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  const timeout = lockTimeoutSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const outcome = await retryOnLockTimeout(
    () =>
      db.transaction(async (tx) => {
        await tx.execute(sql.raw(`SET LOCAL ${timeout}`));
        return body(tx as unknown as AnyPgDatabase);
      }),
    { retries: options.retries ?? DEFAULT_RETRIES, onRetry: options.onRetry },
  );
  if (outcome.error) throw outcome.error;
  return outcome.value as T;
}
