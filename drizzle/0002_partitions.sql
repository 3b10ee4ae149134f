-- pgparts: partition DDL, written by `npm run db:generate` from src/*/partitioning.ts. Do not edit.
CREATE TABLE "public"."leaderboard_run_default" PARTITION OF "public"."leaderboard_run" DEFAULT;
--> statement-breakpoint
COMMENT ON TABLE "public"."leaderboard_run_default" IS 'pgparts:managed';
--> statement-breakpoint
CREATE TABLE "public"."run_group_member_default" PARTITION OF "public"."run_group_member" DEFAULT;
--> statement-breakpoint
COMMENT ON TABLE "public"."run_group_member_default" IS 'pgparts:managed';
--> statement-breakpoint
CREATE INDEX "idx_leaderboard_run_cleanup" ON "leaderboard_run" USING btree ("season_id", "period_id", "dungeon_id", "keystone_level" DESC, "score" DESC) INCLUDE ("id");
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_per_group" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id", "period_id", "dungeon_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_per_group_run_key" ON "top_keys_per_group" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_per_group_rank_idx" ON "top_keys_per_group" ("season_id", "period_id", "dungeon_id", "position");
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_per_period" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id", "period_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_per_period_run_key" ON "top_keys_per_period" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_per_period_rank_idx" ON "top_keys_per_period" ("season_id", "period_id", "position");
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_per_dungeon" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id", "dungeon_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_per_dungeon_run_key" ON "top_keys_per_dungeon" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_per_dungeon_rank_idx" ON "top_keys_per_dungeon" ("season_id", "dungeon_id", "position");
--> statement-breakpoint
CREATE MATERIALIZED VIEW "top_keys_global" AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY "season_id"
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r
) ranked
WHERE "position" <= 100
WITH DATA;
--> statement-breakpoint
CREATE UNIQUE INDEX "top_keys_global_run_key" ON "top_keys_global" ("season_id", "run_id");
--> statement-breakpoint
CREATE INDEX "top_keys_global_rank_idx" ON "top_keys_global" ("season_id", "position");
--> statement-breakpoint
DO $pgparts$
DECLARE
  parent text;
  first_start timestamp := date_trunc('month', now() AT TIME ZONE 'UTC') - 12 * interval '1 month';
  start_at timestamp;
  part text;
BEGIN
  FOR i IN 0..15 LOOP
    start_at := first_start + i * interval '1 month';
    FOREACH parent IN ARRAY ARRAY['killmails_raw', 'killmails_enriched', 'killmail_participants'] LOOP
      part := parent || '_' || to_char(start_at, 'YYYY_MM') || '';
      IF to_regclass(format('%I.%I', 'public', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
          'public', part, 'public', parent,
          to_char(start_at, 'YYYY-MM-DD HH24:MI:SS') || '+00',
          to_char(start_at + interval '1 month', 'YYYY-MM-DD HH24:MI:SS') || '+00');
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', 'public', part, 'pgparts:managed');
      END IF;
    END LOOP;
  END LOOP;
END
$pgparts$;
--> statement-breakpoint
CREATE INDEX "idx_characters_name_prefix" ON "characters" USING btree (lower("name") COLLATE "C", "id") INCLUDE ("name");
--> statement-breakpoint
ALTER TABLE "characters" ALTER COLUMN "name" SET STATISTICS 1000;
--> statement-breakpoint
CREATE INDEX "idx_corporations_name_prefix" ON "corporations" USING btree (lower("name") COLLATE "C", "id") INCLUDE ("name");
--> statement-breakpoint
ALTER TABLE "corporations" ALTER COLUMN "name" SET STATISTICS 1000;
--> statement-breakpoint
CREATE INDEX "idx_alliances_name_prefix" ON "alliances" USING btree (lower("name") COLLATE "C", "id") INCLUDE ("name");
--> statement-breakpoint
ALTER TABLE "alliances" ALTER COLUMN "name" SET STATISTICS 1000;
--> statement-breakpoint
CREATE INDEX "idx_systems_name_prefix" ON "systems" USING btree (lower("name") COLLATE "C", "id") INCLUDE ("name");
--> statement-breakpoint
ALTER TABLE "systems" ALTER COLUMN "name" SET STATISTICS 1000;
