import { familyMigrationSql } from '../../sql/partition-ddl.js';
import { leaderboardFamily } from './partitioning.js';
import { TOP_KEYS_VIEWS, topKeysViewSql } from './views.js';

/**
 * The leaderboard's part of the partition migration: DEFAULT partitions, the cleanup index (its
 * INCLUDE column is beyond Drizzle) and the four top_keys_* materialized views.
 */
export function leaderboardMigrationSql(): string[] {
  return [
    ...familyMigrationSql(leaderboardFamily),
    CLEANUP_INDEX_SQL,
    ...TOP_KEYS_VIEWS.flatMap((view) => topKeysViewSql(view)),
  ];
}

/** The cleanup index; its INCLUDE column is beyond Drizzle. */
const CLEANUP_INDEX_SQL = `CREATE INDEX "idx_leaderboard_run_cleanup" ON "leaderboard_run" USING btree ("season_id", "period_id", "dungeon_id", "keystone_level" DESC, "score" DESC) INCLUDE ("id")`;

/**
 * What Drizzle cannot declare, as a database should have it now: the cleanup index and the
 * views of ranked runs (the first migration's views, replaced by a later one). A conversion
 * builds these on its twins.
 */
export function leaderboardExtrasNow(): string[] {
  return [
    CLEANUP_INDEX_SQL,
    ...TOP_KEYS_VIEWS.flatMap((view) => topKeysViewSql(view, { rankedOnly: true })),
  ];
}
