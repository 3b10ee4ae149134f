import type { PartitionKey } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { quoteIdent } from './identifiers.js';
import { listValueLiteral, utcTimestampLiteral } from './literals.js';

/**
 * A WHERE condition that holds exactly for the rows of one key: `"season_id" = 14`, or
 * `"killmail_time" >= '...+00' AND "killmail_time" < '...+00'`. `alias` qualifies the column.
 */
export function keyPredicateSql(family: FamilySpec, key: PartitionKey, alias?: string): string {
  const column = `${alias ? `${quoteIdent(alias)}.` : ''}${quoteIdent(family.partitionBy.column)}`;
  switch (key.kind) {
    case 'list':
      return `${column} = ${listValueLiteral(key.value)}`;
    case 'range':
      return `${column} >= ${utcTimestampLiteral(key.from)} AND ${column} < ${utcTimestampLiteral(key.to)}`;
    case 'default':
      throw new PgpartsError(
        'invalid-input',
        'pgparts: the DEFAULT partition has no key predicate',
      );
  }
}

/**
 * A CHECK expression equal to the partition constraint PostgreSQL derives for the key. A table
 * carrying it as a valid constraint is attached without a validation scan (docs/postgres-behaviours.md#attach-without-scan).
 */
export function keyCheckSql(family: FamilySpec, key: PartitionKey): string {
  const column = quoteIdent(family.partitionBy.column);
  return `${column} IS NOT NULL AND ${keyPredicateSql(family, key)}`;
}
