import { sql } from 'drizzle-orm';
import type { Step } from '../plan/plan.js';
import type { AnyPgDatabase } from './database.js';
import { runAsTransaction, runEachSent } from './execute.js';
import { lockedTransactionSql } from './lock-timeout.js';

/**
 * Runs one create step on `db` (apply's pinned connection, not in a transaction, its session
 * set up by pgpartsSessionSettings(lockTimeoutMs): that lock_timeout, no JIT): its `prepare`
 * statements each as a transaction of its own, then its `sql` as one transaction that starts
 * with the settings every locking transaction starts with. A statement sent on its own is its
 * own transaction, under the session's settings, which are the same. Where the connection
 * allows it the `prepare` statements go out together (the CHECK's VALIDATE right behind its ADD:
 * should the ADD fail, the VALIDATE fails or checks a CHECK left before, and the step is tried
 * again), and so do BEGIN, the transaction's statements and COMMIT (runAsTransaction). When
 * anything fails after `prepare` began, its `cleanup` runs (best effort, alike) and the error is
 * thrown as it came: apply's loop retries the whole step.
 */
export async function runCreateStep(
  db: AnyPgDatabase,
  step: Pick<Step, 'prepare' | 'sql' | 'cleanup'>,
  lockTimeoutMs: number,
): Promise<undefined> {
  try {
    await runEachSent(db, step.prepare ?? []);
    await runAsTransaction(db, [...lockedTransactionSql(lockTimeoutMs), ...step.sql]);
    return undefined;
  } catch (error) {
    for (const statement of step.cleanup ?? []) {
      // A connection that is gone or a lock not had leaves the CHECK: the next run's create of
      // the key replaces it, and the catalog read reports it meanwhile.
      await db.execute(sql.raw(statement)).catch(() => {});
    }
    throw error;
  }
}
