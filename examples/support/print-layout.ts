import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../src/run/database.js';
import { rowsOf } from '../../src/run/rows.js';

/** Prints each partitioned parent with its partitions, bounds (in UTC) and exact row counts. */
export async function printLayout(db: AnyPgDatabase, parents: string[]): Promise<void> {
  await db.execute(sql`SET TimeZone = 'UTC'`);
  for (const parent of parents) {
    const parts = rowsOf<{ part: string; bound: string }>(
      await db.execute(sql`
        SELECT c.relname AS part, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(${parent}) ORDER BY c.relname`),
    );
    console.log(`\n${parent} (${parts.length} partitions)`);
    for (const p of parts) {
      const [count] = rowsOf<{ n: number }>(
        await db.execute(sql`SELECT count(*)::int AS n FROM ${sql.identifier(p.part)}`),
      );
      if ((count?.n ?? 0) > 0 || p.bound === 'DEFAULT') {
        console.log(`  ${p.part.padEnd(34)} ${String(count?.n ?? 0).padStart(6)} rows  ${p.bound}`);
      }
    }
    const empty = parts.length - parts.filter((p) => p.bound === 'DEFAULT').length;
    console.log(`  (partitions without rows are not listed; ${empty} non-DEFAULT in all)`);
  }
}
