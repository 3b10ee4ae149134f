import { asc, desc } from 'drizzle-orm';
import { leaderboardRun } from '../tables.js';

/**
 * The ranking of every leaderboard read: keystone_level DESC, score DESC, then the lower id.
 * The first two are plain DESC (NULLS FIRST), the order of idx_leaderboard_run_cleanup and
 * idx_leaderboard_run_season_period_dungeon, so an index reads the runs already ranked; runs
 * without a level or score are not ranked and the reads leave them out (IS NOT NULL), which also
 * makes the NULLS FIRST of the index irrelevant to the result.
 */
export const runRanking = [
  desc(leaderboardRun.keystoneLevel),
  desc(leaderboardRun.score),
  asc(leaderboardRun.id),
] as const;

/** The columns a ranked read returns. */
export const rankedRunColumns = {
  id: leaderboardRun.id,
  runGuid: leaderboardRun.runGuid,
  seasonId: leaderboardRun.seasonId,
  periodId: leaderboardRun.periodId,
  dungeonId: leaderboardRun.dungeonId,
  realmId: leaderboardRun.realmId,
  region: leaderboardRun.region,
  keystoneLevel: leaderboardRun.keystoneLevel,
  score: leaderboardRun.score,
  durationMs: leaderboardRun.durationMs,
  completedAt: leaderboardRun.completedAt,
};
