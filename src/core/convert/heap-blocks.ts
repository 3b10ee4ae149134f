import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../database.js';
import { query } from './run-sql.js';

/**
 * Batches over a table's heap blocks: `s.ctid` in [from, to) is a TID range scan (PostgreSQL
 * 14+), which reads those blocks in physical order. Walking a table keyed by uuids in key order
 * reads its heap at random instead; in blocks, a batch is a sequential read.
 */
export function inBlocks(from: number, to: number): SQL {
  return sql`s.ctid >= format('(%s,0)', ${from}::bigint)::tid AND s.ctid < format('(%s,0)', ${to}::bigint)::tid`;
}

/** The text --dry-run shows for a block range. */
export const IN_BLOCKS_SHOWN = "s.ctid >= '(<from>,0)'::tid AND s.ctid < '(<to>,0)'::tid";

/** The table's size in blocks now. */
export async function relationBlocks(db: AnyPgDatabase, table: string): Promise<number> {
  const rows = await query<{ blocks: string }>(
    db,
    sql`SELECT (pg_relation_size(${table}::regclass) / current_setting('block_size')::int)::text AS blocks`,
  );
  return Number(rows[0]?.blocks ?? 0);
}

/** Blocks per batch, for about `rows` rows (from the planner's statistics). */
export async function blocksPerBatch(
  db: AnyPgDatabase,
  table: string,
  rows: number,
): Promise<number> {
  const stats = await query<{ per_block: number }>(
    db,
    sql`SELECT CASE WHEN relpages > 0 AND reltuples > 0 THEN reltuples / relpages ELSE 50 END::float8 AS per_block
        FROM pg_class WHERE oid = ${table}::regclass`,
  );
  return Math.max(1, Math.round(rows / Math.max(1, Number(stats[0]?.per_block ?? 50))));
}
