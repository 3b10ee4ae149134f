import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { query } from '../run/execute.js';
import { quoteQualified } from '../sql/identifiers.js';

/**
 * Which of `tables` have planner statistics worth refreshing, by autovacuum's own
 * rule: more rows inserted, updated or deleted since the last ANALYZE than
 * autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x its row count (50 + 10% by
 * default), or never analyzed. A table whose statistics pass that test is planned on figures
 * within that margin of the truth, and a fresh ANALYZE (a sample of up to 30,000 pages) would
 * change nothing a lookup by key depends on. Counts are the server's cumulative statistics
 * (flushed by each backend within about a second); with track_counts off they say nothing,
 * and every table is stale. The server's settings, not a table's own reloptions, set the rule.
 */
export async function staleStatistics<T extends { schema: string; table: string }>(
  db: AnyPgDatabase,
  tables: readonly T[],
): Promise<T[]> {
  if (tables.length === 0) return [];
  const rows = await query<{ i: number }>(
    db,
    sql`SELECT t.i FROM (VALUES ${sql.join(
      tables.map((t, i) => sql`(${i}::int, to_regclass(${quoteQualified(t.schema, t.table)}))`),
      sql`, `,
    )}) AS t(i, oid)
        LEFT JOIN pg_catalog.pg_class c ON c.oid = t.oid
        LEFT JOIN pg_catalog.pg_stat_all_tables s ON s.relid = t.oid
        WHERE NOT current_setting('track_counts')::bool
           OR c.oid IS NULL OR c.reltuples < 0 OR s.relid IS NULL
           OR s.n_mod_since_analyze > current_setting('autovacuum_analyze_threshold')::float8
                + current_setting('autovacuum_analyze_scale_factor')::float8 * c.reltuples`,
  );
  const stale = new Set(rows.map((r) => Number(r.i)));
  return tables.filter((_, i) => stale.has(i));
}
