import { sql } from 'drizzle-orm';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { inShortTransaction, lockedTransactionSql } from '../../run/lock-timeout.js';
import { pgErrorMessage } from '../../run/pg-error.js';

/**
 * One statement of a step's plan. `searchPath` runs it with that search_path (extras and views
 * written against unqualified names); `lockTimeoutMs` marks DDL on a live table, which runs in
 * the one retry loop of run/lock-timeout.ts (short lock_timeout, no JIT, retried).
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
        s.lockTimeoutMs !== undefined
          ? lockedTransactionSql(s.lockTimeoutMs)
              .map((setting) => `${setting};\n`)
              .join('')
          : '',
      ].join('');
      return s.sql.startsWith('--') ? s.sql : `${settings}${s.sql};`;
    })
    .join('\n\n');
}

/** Runs a plan in order; statements with settings run in their own short transaction. */
export async function executePlan(
  db: AnyPgDatabase,
  statements: readonly PlannedStatement[],
  what: string,
  options: { retries?: number } = {},
): Promise<void> {
  for (const s of statements) {
    const body = async (tx: AnyPgDatabase) => {
      if (s.searchPath !== undefined) {
        await tx.execute(sql`SELECT set_config('search_path', ${s.searchPath}, true)`);
      }
      await tx.execute(sql.raw(s.sql));
    };
    try {
      if (s.lockTimeoutMs !== undefined) {
        await inShortTransaction(db, { lockTimeoutMs: s.lockTimeoutMs, what, ...options }, body);
      } else if (s.searchPath !== undefined) {
        await db.transaction((tx) => body(tx as unknown as AnyPgDatabase));
      } else {
        await db.execute(sql.raw(s.sql));
      }
    } catch (error) {
      if (error instanceof PgpartsError) throw error;
      throw new PgpartsError(
        'query-failed',
        `${what} failed on:\n${s.sql.slice(0, 300)}\n${pgErrorMessage(error)}`,
        { step: what, cause: error },
      );
    }
  }
}
