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

/** drizzle-kit's `CREATE TABLE "schema"."table" (` (schema omitted for public), up to its `);`. */
export function createTablePattern(schema: string, table: string): RegExp {
  const qualified =
    schema === 'public'
      ? `(?:"public"\\.)?"${escapeRegExp(table)}"`
      : `"${escapeRegExp(schema)}"\\."${escapeRegExp(table)}"`;
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
