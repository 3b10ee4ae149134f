import { and, eq, isNotNull } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { leaderboardRun } from '../tables.js';
import { idSchema, limitSchema } from './inputs.js';
import { rankedRunColumns, runRanking } from './ranked-run.js';

export const topRunsInput = z
  .object({
    seasonId: idSchema,
    dungeonId: idSchema,
    /** Narrow to one weekly period of the season. */
    periodId: idSchema.optional(),
    limit: limitSchema(1000, 100),
  })
  .strict();
export type TopRunsInput = z.input<typeof topRunsInput>;

/**
 * The best runs of a dungeon in a season (optionally one period), read from the tables.
 * Prunes: season_id = $1 leaves one partition. Index: with a period,
 * idx_leaderboard_run_season_period_dungeon (or the cleanup index, same keys) reads in rank
 * order; without, idx_leaderboard_run_season_dungeon (level DESC, score DESC, id) does: the LIMIT
 * stops after its rows. (With score ASC, as it was declared first, the read sorted each level's
 * runs, and so fetched every run of the top levels: 700-800 buffers a call at 10M runs against
 * about 100, most of a cold call's time.)
 */
export function topRunsQuery(db: AnyPgDatabase, input: TopRunsInput) {
  const i = parseQueryInput('topRuns', topRunsInput, input);
  const r = leaderboardRun;
  return db
    .select(rankedRunColumns)
    .from(r)
    .where(
      and(
        eq(r.seasonId, i.seasonId),
        i.periodId === undefined ? undefined : eq(r.periodId, i.periodId),
        eq(r.dungeonId, i.dungeonId),
        isNotNull(r.keystoneLevel),
        isNotNull(r.score),
      ),
    )
    .orderBy(...runRanking)
    .limit(i.limit);
}

export async function topRuns(db: AnyPgDatabase, input: TopRunsInput, options?: QueryOptions) {
  const o = parseQueryOptions('topRuns', options);
  return await runQuery('topRuns', () => sendQuery('topRuns', topRunsQuery(db, input), o));
}
