import type { AnyPgDatabase } from '../run/database.js';
import { runLockedTransaction, type ShortTransactionOptions } from '../run/lock-timeout.js';
import { quoteIdent } from '../sql/identifiers.js';

/**
 * VALIDATE CONSTRAINT of a foreign key, in its own short transaction under lock_timeout and
 * retried (run/lock-timeout.ts). It takes SHARE UPDATE EXCLUSIVE on the referencing table and
 * ROW SHARE on the referenced one: writers are not blocked, but a lock held elsewhere must not
 * leave it waiting forever. Its check is one anti-join of the rows with the referenced table.
 * When the rows share the partition key, PostgreSQL planned a merge join on that column alone
 * (the rest a filter): every member compared with every run of the season, minutes at 1M rows.
 * So hash joins only, for this one statement.
 */
export async function validateForeignKey(
  db: AnyPgDatabase,
  /** The referencing table, already quoted (and qualified). */
  table: string,
  constraint: string,
  options: ShortTransactionOptions = {},
): Promise<void> {
  await runLockedTransaction(
    db,
    { what: `validate ${constraint}`, ...options },
    validateForeignKeySql(table, constraint),
  );
}

/** The statements of validateForeignKey's transaction. */
export function validateForeignKeySql(table: string, constraint: string): string[] {
  return [
    'SET LOCAL enable_mergejoin = off',
    'SET LOCAL enable_nestloop = off',
    `ALTER TABLE ${table} VALIDATE CONSTRAINT ${quoteIdent(constraint)}`,
  ];
}
