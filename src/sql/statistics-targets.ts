import { PgpartsError } from '../errors.js';
import { quoteIdent } from './identifiers.js';
import { integerLiteral } from './literals.js';

/** A column's statistics target, set by `ALTER TABLE ... ALTER COLUMN ... SET STATISTICS`. */
export interface StatisticsTarget {
  column: string;
  target: number;
}

/** The range PostgreSQL accepts for SET STATISTICS (0: collect none). */
const MAX_TARGET = 10_000;

/**
 * The parent's per-column statistics targets, given to a table pgparts creates to become its
 * partition. PostgreSQL gives a column's target to the partitions that exist when it is set, but
 * a table created later, by PARTITION OF or LIKE, gets the default: without this, a column the
 * schema samples more finely (a JSON column whose values the default 100-value sample misjudges)
 * would be planned from the coarse sample on every new partition. Catalog only, on a table no
 * one else uses yet. Nothing when the parent sets none.
 */
export function statisticsTargetsSql(
  qualified: string,
  targets: readonly StatisticsTarget[] | null | undefined,
): string[] {
  if (!targets || targets.length === 0) return [];
  const clauses = targets.map(({ column, target }) => {
    // A number read from the catalog, written into DDL (which takes no parameter): checked.
    if (!Number.isInteger(target) || target < 0 || target > MAX_TARGET) {
      throw new PgpartsError(
        'invalid-input',
        `pgparts: statistics target ${target} of column ${column} is not an integer from 0 to ${MAX_TARGET}`,
      );
    }
    return `ALTER COLUMN ${quoteIdent(column)} SET STATISTICS ${integerLiteral(target)}`;
  });
  return [`ALTER TABLE ${qualified} ${clauses.join(', ')}`];
}
