import { and, asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { TOP_KEYS_LIMIT, topKeysPerDungeon, topKeysPerGroup } from '../views.js';
import { idSchema, limitSchema } from './inputs.js';

export const topRunsFromViewsInput = z
  .object({
    seasonId: idSchema,
    dungeonId: idSchema,
    periodId: idSchema.optional(),
    /** The views keep TOP_KEYS_LIMIT runs per group: more cannot be read from them. */
    limit: limitSchema(TOP_KEYS_LIMIT, TOP_KEYS_LIMIT),
  })
  .strict();
export type TopRunsFromViewsInput = z.input<typeof topRunsFromViewsInput>;

/**
 * The best runs of a dungeon in a season (optionally one period) from the materialized views, as
 * of their last refresh: top_keys_per_group with a period, top_keys_per_dungeon without. The
 * views are not partitioned; their `_rank_idx` index (group columns, position) serves the read.
 */
export function topRunsFromViewsQuery(db: AnyPgDatabase, input: TopRunsFromViewsInput) {
  const i = parseQueryInput('topRunsFromViews', topRunsFromViewsInput, input);
  if (i.periodId !== undefined) {
    const v = topKeysPerGroup;
    return db
      .select()
      .from(v)
      .where(
        and(eq(v.seasonId, i.seasonId), eq(v.periodId, i.periodId), eq(v.dungeonId, i.dungeonId)),
      )
      .orderBy(asc(v.position))
      .limit(i.limit);
  }
  const v = topKeysPerDungeon;
  return db
    .select()
    .from(v)
    .where(and(eq(v.seasonId, i.seasonId), eq(v.dungeonId, i.dungeonId)))
    .orderBy(asc(v.position))
    .limit(i.limit);
}

export async function topRunsFromViews(
  db: AnyPgDatabase,
  input: TopRunsFromViewsInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('topRunsFromViews', options);
  return await runQuery('topRunsFromViews', () =>
    sendQuery('topRunsFromViews', topRunsFromViewsQuery(db, input), o),
  );
}
