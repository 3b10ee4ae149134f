import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { jsonValue } from '../run/rows.js';
import type { StatisticsTarget } from '../sql/statistics-targets.js';

/**
 * A scalar subquery: the json array of `relation`'s columns that set a statistics target, in
 * column order, or NULL when none does. attstattarget is -1 for the default up to PostgreSQL 16
 * and NULL from 17: neither is >= 0.
 */
export function statisticsTargetsJson(relation: SQL): SQL {
  return sql`(SELECT json_agg(json_build_object('column', sa.attname, 'target', sa.attstattarget) ORDER BY sa.attnum)
                FROM pg_attribute sa
               WHERE sa.attrelid = ${relation} AND sa.attnum > 0 AND NOT sa.attisdropped
                 AND sa.attstattarget >= 0)`;
}

const targetsSchema = z.array(z.object({ column: z.string(), target: z.number().int() }));

/** That array as the driver gives it: parsed json (postgres.js, node-postgres) or its text. */
export function parseStatisticsTargets(value: unknown): StatisticsTarget[] {
  if (value === null || value === undefined) return [];
  return targetsSchema.parse(jsonValue(value));
}
