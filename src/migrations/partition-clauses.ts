import type { FamilySpec } from '../define/spec.js';
import { partitionByClause } from '../sql/partition-ddl.js';

/**
 * drizzle-kit writes a partitioned parent as a plain CREATE TABLE, and a table cannot be
 * partitioned after it exists: the PARTITION BY clause goes on the CREATE TABLE drizzle-kit just
 * wrote, before anything applied it.
 */

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `"table"` as drizzle-kit names it in `schema` (schema omitted for public), as a pattern. */
function qualifiedPattern(schema: string, table: string): string {
  return schema === 'public'
    ? `(?:"public"\\.)?"${escapeRegExp(table)}"`
    : `"${escapeRegExp(schema)}"\\."${escapeRegExp(table)}"`;
}

/** drizzle-kit's `CREATE TABLE "schema"."table" (` (schema omitted for public), up to its `);`. */
export function createTablePattern(schema: string, table: string): RegExp {
  const qualified = qualifiedPattern(schema, table);
  return new RegExp(
    `(CREATE TABLE (?:IF NOT EXISTS )?${qualified} \\([\\s\\S]*?\\n\\))(\\s*PARTITION BY[^;]*)?;`,
  );
}

/** Whether `migration` creates `table` (partitioned or not). */
export function createsTable(migration: string, schema: string, table: string): boolean {
  return createTablePattern(schema, table).test(migration);
}

/** Adds PARTITION BY to the CREATE TABLE of `table` in `migration`; unchanged when absent. */
export function addPartitionClause(migration: string, family: FamilySpec, table: string): string {
  return migration.replace(
    createTablePattern(family.schema, table),
    (whole, body: string, existing) => (existing ? whole : `${body} ${partitionByClause(family)};`),
  );
}

/**
 * The PARTITION BY clause `migration` gives `table` (whitespace as written), null when the
 * migration creates it without one, undefined when it does not create it.
 */
export function partitionClauseIn(
  migration: string,
  schema: string,
  table: string,
): string | null | undefined {
  const found = createTablePattern(schema, table).exec(migration);
  if (!found) return undefined;
  return found[2] ? found[2].trim().replace(/\s+/g, ' ') : null;
}

/** drizzle-kit's `DROP TABLE "schema"."table" CASCADE;` (IF EXISTS and CASCADE optional). */
function dropTablePattern(schema: string, table: string): RegExp {
  return new RegExp(
    `DROP TABLE (?:IF EXISTS )?${qualifiedPattern(schema, table)}(?: CASCADE| RESTRICT)?;`,
    'g',
  );
}

/**
 * The migrations that tell how `table` exists now: those after the last one that drops it (a
 * migration that drops it and then creates it again counts from itself). A table dropped and
 * declared again is a new table: how it was created before the drop says nothing of it.
 */
export function sinceLastDrop(
  migrations: readonly string[],
  schema: string,
  table: string,
): readonly string[] {
  let from = 0;
  for (const [at, text] of migrations.entries()) {
    const drops = [...text.matchAll(dropTablePattern(schema, table))];
    const lastDrop = drops.at(-1)?.index;
    if (lastDrop === undefined) continue;
    const created = createTablePattern(schema, table).exec(text.slice(lastDrop));
    from = created ? at : at + 1;
  }
  return migrations.slice(from);
}
