import { sql } from 'drizzle-orm';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { pgErrorCode } from '../../run/pg-error.js';
import { serverMessage, sleep } from './run-sql.js';

/**
 * One statement of a step's plan. `searchPath` runs it with that search_path (extras and views
 * written against unqualified names); `lockTimeoutMs` marks DDL on a live table, which runs with
 * a short lock_timeout and is retried (docs/postgres-behaviours.md#lock-levels).
 */
export interface PlannedStatement {
  sql: string;
  searchPath?: string;
  lockTimeoutMs?: number;
}

/** What --dry-run prints: each statement as it would run, with its session settings. */
export function formatPlan(statements: readonly PlannedStatement[]): string {
  return statements
    .map((s) => {
      const settings = [
        s.searchPath !== undefined ? `SET LOCAL search_path = ${s.searchPath};\n` : '',
        s.lockTimeoutMs !== undefined ? `SET LOCAL lock_timeout = '${s.lockTimeoutMs}ms';\n` : '',
      ].join('');
      return s.sql.startsWith('--') ? s.sql : `${settings}${s.sql};`;
    })
    .join('\n\n');
}

const LOCK_NOT_AVAILABLE = '55P03';
const DEADLOCK = '40P01';

/**
 * The lock_timeout conversion DDL uses by default. Below PostgreSQL's deadlock_timeout (1 s by
 * default) on purpose: when the app takes two tables in one order (insert a run, then its
 * members) and pgparts in the other, the app's deadlock check would fire first and abort the
 * app's transaction; with the shorter lock_timeout pgparts gives up first and retries instead.
 */
export const DEFAULT_LOCK_TIMEOUT_MS = 500;

/** Runs `fn` in a transaction with lock_timeout, retrying with growing pauses when it times out. */
export async function withLockRetry<T>(
  db: AnyPgDatabase,
  lockTimeoutMs: number,
  attempts: number,
  what: string,
  fn: (tx: AnyPgDatabase, attempt: number) => Promise<T>,
): Promise<{ result: T; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await db.transaction(async (tx) => {
        await tx.execute(sql`SELECT set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`);
        return fn(tx as unknown as AnyPgDatabase, attempt);
      });
      return { result, attempts: attempt };
    } catch (error) {
      const state = pgErrorCode(error);
      const retryable = state === LOCK_NOT_AVAILABLE || state === DEADLOCK;
      if (!retryable || attempt >= attempts) {
        if (retryable) {
          throw new PgpartsError(
            'lock-timeout',
            `pgparts: ${what}: could not take the lock within ${lockTimeoutMs}ms in ${attempt} ` +
              'attempts (long transactions hold it); retry at a quieter time or raise --lock-timeout-ms',
            { step: what, docs: 'docs/postgres-behaviours.md#lock-levels' },
          );
        }
        throw error;
      }
      await sleep(Math.min(5_000, 100 * 2 ** attempt));
    }
  }
}

/** Runs a plan in order; statements with settings run in their own short transaction. */
export async function executePlan(
  db: AnyPgDatabase,
  statements: readonly PlannedStatement[],
  what: string,
): Promise<void> {
  for (const s of statements) {
    try {
      if (s.searchPath === undefined && s.lockTimeoutMs === undefined) {
        await db.execute(sql.raw(s.sql));
        continue;
      }
      await withLockRetry(db, s.lockTimeoutMs ?? 0, s.lockTimeoutMs ? 5 : 1, what, async (tx) => {
        if (s.searchPath !== undefined) {
          await tx.execute(sql`SELECT set_config('search_path', ${s.searchPath}, true)`);
        }
        await tx.execute(sql.raw(s.sql));
      });
    } catch (error) {
      throw new PgpartsError(
        'query-failed',
        `pgparts: ${what} failed on:\n${s.sql.slice(0, 300)}\n${serverMessage(error)}`,
        { cause: error, step: what },
      );
    }
  }
}
