-- pgparts: written by `pgparts generate` from pgparts.config. Do not edit.
CREATE MATERIALIZED VIEW "top_keys_per_group_next" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id", "period_id", "dungeon_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
  WHERE r."keystone_level" IS NOT NULL AND r."score" IS NOT NULL
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_per_group_next_run_key" ON "top_keys_per_group_next" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_per_group_next_rank_idx" ON "top_keys_per_group_next" ("season_id", "period_id", "dungeon_id", "position");
--> statement-breakpoint
DROP MATERIALIZED VIEW "top_keys_per_group";
--> statement-breakpoint
ALTER MATERIALIZED VIEW "top_keys_per_group_next" RENAME TO "top_keys_per_group";
--> statement-breakpoint
ALTER INDEX "top_keys_per_group_next_run_key" RENAME TO "top_keys_per_group_run_key";
--> statement-breakpoint
ALTER INDEX "top_keys_per_group_next_rank_idx" RENAME TO "top_keys_per_group_rank_idx";
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_per_period_next" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id", "period_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
  WHERE r."keystone_level" IS NOT NULL AND r."score" IS NOT NULL
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_per_period_next_run_key" ON "top_keys_per_period_next" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_per_period_next_rank_idx" ON "top_keys_per_period_next" ("season_id", "period_id", "position");
--> statement-breakpoint
DROP MATERIALIZED VIEW "top_keys_per_period";
--> statement-breakpoint
ALTER MATERIALIZED VIEW "top_keys_per_period_next" RENAME TO "top_keys_per_period";
--> statement-breakpoint
ALTER INDEX "top_keys_per_period_next_run_key" RENAME TO "top_keys_per_period_run_key";
--> statement-breakpoint
ALTER INDEX "top_keys_per_period_next_rank_idx" RENAME TO "top_keys_per_period_rank_idx";
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_per_dungeon_next" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id", "dungeon_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
  WHERE r."keystone_level" IS NOT NULL AND r."score" IS NOT NULL
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_per_dungeon_next_run_key" ON "top_keys_per_dungeon_next" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_per_dungeon_next_rank_idx" ON "top_keys_per_dungeon_next" ("season_id", "dungeon_id", "position");
--> statement-breakpoint
DROP MATERIALIZED VIEW "top_keys_per_dungeon";
--> statement-breakpoint
ALTER MATERIALIZED VIEW "top_keys_per_dungeon_next" RENAME TO "top_keys_per_dungeon";
--> statement-breakpoint
ALTER INDEX "top_keys_per_dungeon_next_run_key" RENAME TO "top_keys_per_dungeon_run_key";
--> statement-breakpoint
ALTER INDEX "top_keys_per_dungeon_next_rank_idx" RENAME TO "top_keys_per_dungeon_rank_idx";
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_global_next" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
  WHERE r."keystone_level" IS NOT NULL AND r."score" IS NOT NULL
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_global_next_run_key" ON "top_keys_global_next" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_global_next_rank_idx" ON "top_keys_global_next" ("season_id", "position");
--> statement-breakpoint
DROP MATERIALIZED VIEW "top_keys_global";
--> statement-breakpoint
ALTER MATERIALIZED VIEW "top_keys_global_next" RENAME TO "top_keys_global";
--> statement-breakpoint
ALTER INDEX "top_keys_global_next_run_key" RENAME TO "top_keys_global_run_key";
--> statement-breakpoint
ALTER INDEX "top_keys_global_next_rank_idx" RENAME TO "top_keys_global_rank_idx";
