import { sql } from 'drizzle-orm';
import type { FamilySpec } from '../define/spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';

export interface UnfinishedOperations {
  family: string;
  /** Operations begun and not finished. */
  count: number;
  /** What shows it: the tables left behind, schema-qualified. */
  objects: string[];
}

/**
 * Operations of each family that began and did not finish, as far as the catalog shows them
 * today: tables an interrupted drain left behind (its staging tables, a rebuilt or an old
 * DEFAULT, each still carrying the drain's `pgparts:drain-...` comment). Running the drain (or
 * `pgparts apply`) again finishes them. The one place metrics and status read this from, so a
 * proper record of operations can replace it here.
 */
export async function readUnfinishedOperations(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
): Promise<UnfinishedOperations[]> {
  const result: UnfinishedOperations[] = [];
  for (const family of families) {
    const rows = rowsOf<{ name: string }>(
      await db.execute(sql`
        SELECT c.relname AS name
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${family.schema} AND c.relkind IN ('r', 'p')
          AND obj_description(c.oid, 'pg_class') LIKE 'pgparts:drain-%'
        ORDER BY c.relname`),
    );
    const objects = rows
      .filter((r) => family.tables.some((t) => r.name.startsWith(`${t}_`)))
      .map((r) => `${family.schema}.${r.name}`);
    result.push({ family: family.name, count: objects.length, objects });
  }
  return result;
}
