import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { isDrizzleTransaction } from '../../../run/driver-capabilities.js';
import { rowsOf } from '../../../run/rows.js';
import { quoteIdent } from '../../../sql/identifiers.js';
import { idSchema } from './inputs.js';

export const trimRunsInput = z
  .object({
    /** Required: a trim reads one season's partition, never the whole table. */
    seasonId: idSchema,
    /** Runs to keep per (season, period, dungeon), in rank order. */
    keep: z.number().int().min(1).max(100_000),
    /** Runs deleted per statement: each batch is its own short statement with short row locks. */
    batchSize: z.number().int().min(1).max(100_000).default(5_000),
    periodId: idSchema.optional(),
    dungeonId: idSchema.optional(),
  })
  .strict();
export type TrimRunsInput = z.input<typeof trimRunsInput>;

export interface TrimRunsResult {
  runsDeleted: number;
  /** Group members removed with their runs by the ON DELETE CASCADE foreign key. */
  membersDeleted: number;
  batches: number;
}

const q = (name: string) => sql.raw(quoteIdent(name));
const run = q('leaderboard_run');
const member = q('run_group_member');

/**
 * The column of a batch's row that carries the session's plan_cache_mode from before it. One
 * word: a postgres.js client made with `transform: postgres.camel` returns it under this name
 * too (`previous_plan_cache_mode` came back as `previousPlanCacheMode`, and the setting was not
 * put back).
 */
export const PREVIOUS_PLAN_CACHE_MODE = 'previousplancachemode';

/**
 * One batch: ranks the season's runs per (period, dungeon) in idx_leaderboard_run_cleanup's order
 * (season_id, period_id, dungeon_id, keystone_level DESC, score DESC, INCLUDE id: an index-only
 * read, ties broken by id as the views do) and deletes up to batchSize runs ranked beyond `keep`.
 * season_id = $1 prunes it to one partition; the doomed ids go to the DELETE as an array, so it
 * finds them through the primary key rather than joining the whole partition. Runs without a level or score are not ranked and
 * never deleted. Members go by the cascade; they are counted from the statement's snapshot,
 * which the cascade (run at the end of the statement) has not touched yet.
 *
 * The cascade runs one DELETE on run_group_member per deleted run, after the statement. Under
 * PostgreSQL's default plan_cache_mode (auto) that DELETE is planned anew for every run, over
 * every season's partition, because its generic plan (pruned when it starts) looks dearer than
 * the custom ones: on a partitioned run_group_member that planning doubled the cascade's time.
 * The statement therefore sets plan_cache_mode = force_generic_plan for the rest of its
 * transaction (`set_config(..., true)`, once it has been planned itself, so the statement keeps
 * its own custom plan): the cascade plans its DELETE once per session and prunes each call to one
 * partition. On its own (autocommit) the setting ends with the statement; inside a caller's
 * transaction trimRuns puts the previous value back after each batch.
 */
export function trimRunsBatchQuery(input: TrimRunsInput): SQL {
  const i = parseQueryInput('trimRuns', trimRunsInput, input);
  const narrow = [
    i.periodId === undefined ? sql`` : sql` AND r.${q('period_id')} = ${i.periodId}`,
    i.dungeonId === undefined ? sql`` : sql` AND r.${q('dungeon_id')} = ${i.dungeonId}`,
  ];
  return sql`WITH doomed AS (
  SELECT ranked.${q('id')} FROM (
    SELECT r.${q('id')}, row_number() OVER (
             PARTITION BY r.${q('period_id')}, r.${q('dungeon_id')}
             ORDER BY r.${q('keystone_level')} DESC, r.${q('score')} DESC, r.${q('id')}) AS rank
    FROM ${run} r
    WHERE r.${q('season_id')} = ${i.seasonId}${narrow[0]}${narrow[1]}
      AND r.${q('keystone_level')} IS NOT NULL AND r.${q('score')} IS NOT NULL
  ) ranked
  WHERE ranked.rank > ${i.keep}
  LIMIT ${i.batchSize}
), gone AS (
  DELETE FROM ${run} d
  WHERE d.${q('season_id')} = ${i.seasonId} AND d.${q('id')} = ANY (ARRAY(SELECT ${q('id')} FROM doomed))
  RETURNING d.${q('run_guid')}
)
SELECT (SELECT count(*) FROM gone)::int AS runs,
       (SELECT count(*) FROM ${member} m
         WHERE m.${q('season_id')} = ${i.seasonId}
           AND m.${q('run_guid')} IN (SELECT ${q('run_guid')} FROM gone))::int AS members,
       setting.previous AS ${q(PREVIOUS_PLAN_CACHE_MODE)},
       set_config('plan_cache_mode', 'force_generic_plan', true) AS ${q('plan_cache_mode')}
FROM (SELECT current_setting('plan_cache_mode') AS previous) setting`;
}

/**
 * Keeps the best `keep` runs per (season, period, dungeon) of one season and deletes the rest,
 * batch after batch until a batch comes up short. Safe to stop and rerun: each batch commits on
 * its own (unless the caller's transaction wraps it) and the next one recomputes the ranks.
 */
export async function trimRuns(db: AnyPgDatabase, input: TrimRunsInput): Promise<TrimRunsResult> {
  const i = parseQueryInput('trimRuns', trimRunsInput, input);
  const result: TrimRunsResult = { runsDeleted: 0, membersDeleted: 0, batches: 0 };
  const inTransaction = isDrizzleTransaction(db);
  for (;;) {
    const [row] = rowsOf<{ runs: number; members: number; [PREVIOUS_PLAN_CACHE_MODE]: string }>(
      await runQuery('trimRuns', () => db.execute(trimRunsBatchQuery(i))),
    );
    const previous = row?.[PREVIOUS_PLAN_CACHE_MODE];
    if (inTransaction && previous !== undefined) {
      await runQuery('trimRuns', () =>
        db.execute(sql`SELECT set_config('plan_cache_mode', ${previous}, true)`),
      );
    }
    const runs = Number(row?.runs ?? 0);
    result.batches += 1;
    result.runsDeleted += runs;
    result.membersDeleted += Number(row?.members ?? 0);
    if (runs < i.batchSize) return result;
  }
}
