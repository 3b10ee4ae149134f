import { toCamelCase, toSnakeCase } from 'drizzle-orm/casing';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import type { KeySnapshot } from './unique-keys.js';

/** drizzle.config's `casing`: how a column declared without a name is named in the database. */
export type Casing = 'snake_case' | 'camelCase' | undefined;

/**
 * A family's `partitionBy.column` is a name in the database, and under drizzle's `casing` a
 * column declared without a name is named by the casing (`viewedAt` becomes `viewed_at`), which
 * partitionFamily cannot know. drizzle-kit's snapshot holds the names it writes, so generate
 * checks the key column there before PARTITION BY goes on a CREATE TABLE: a name the table will
 * not have would make a migration that fails on every database.
 */
export function checkPartitionColumns(
  snapshot: KeySnapshot,
  families: readonly FamilySpec[],
  casing: Casing,
): void {
  for (const family of families) {
    const column = family.partitionBy.column;
    for (const name of family.tables) {
      const table = snapshot.tables[`${family.schema}.${name}`];
      if (!table) continue;
      const columns = Object.values(table.columns ?? {}).map((c) => c.name);
      if (columns.includes(column)) continue;
      throw new PgpartsError(
        'invalid-config',
        `pgparts: family ${family.name}: partitionBy.column is ${JSON.stringify(column)}, which ` +
          `${family.schema}.${name} does not have in the database; ${hint(column, columns, casing)} ` +
          'Nothing was written.',
        { table: `${family.schema}.${name}` },
      );
    }
  }
}

function hint(column: string, columns: readonly string[], casing: Casing): string {
  const said = casing ? `drizzle.config's casing: '${casing}'` : 'drizzle.config (no casing)';
  const cased =
    casing === 'snake_case'
      ? toSnakeCase(column)
      : casing === 'camelCase'
        ? toCamelCase(column)
        : column;
  if (columns.includes(cased)) {
    return `${said} names that column ${JSON.stringify(cased)}: write partitionBy.column: '${cased}'.`;
  }
  // The same words spelled another way: the casing and the spec disagree.
  const same = columns.find((c) => toSnakeCase(c) === toSnakeCase(column));
  if (same) {
    return (
      `under ${said} the column is ${JSON.stringify(same)}: write partitionBy.column: '${same}', ` +
      `or set the casing that names it ${JSON.stringify(column)} in drizzle.config (and in drizzle() at run time).`
    );
  }
  return `its columns there are ${columns.join(', ')}; fix partitionBy.column.`;
}
