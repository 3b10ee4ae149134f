CREATE TYPE "public"."surveillance_filter_type" AS ENUM('system', 'ship_type', 'character', 'corporation', 'alliance', 'min_isk', 'module_tags');--> statement-breakpoint
CREATE TABLE "alliances" (
	"id" bigint PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"ticker" text
);
--> statement-breakpoint
CREATE TABLE "characters" (
	"id" bigint PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"corporation_id" bigint,
	"alliance_id" bigint
);
--> statement-breakpoint
CREATE TABLE "corporations" (
	"id" bigint PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"ticker" text,
	"alliance_id" bigint
);
--> statement-breakpoint
CREATE TABLE "killmail_participants" (
	"killmail_id" bigint NOT NULL,
	"killmail_time" timestamp with time zone NOT NULL,
	"position" smallint NOT NULL,
	"is_victim" boolean NOT NULL,
	"character_id" bigint,
	"corporation_id" bigint,
	"alliance_id" bigint,
	"faction_id" bigint,
	"ship_type_id" bigint,
	"weapon_type_id" bigint,
	"damage_done" integer DEFAULT 0 NOT NULL,
	"damage_taken" integer DEFAULT 0 NOT NULL,
	"final_blow" boolean DEFAULT false NOT NULL,
	"security_status" real,
	CONSTRAINT "killmail_participants_pkey" PRIMARY KEY("killmail_id","killmail_time","position")
) PARTITION BY RANGE ("killmail_time");
--> statement-breakpoint
CREATE TABLE "killmails_enriched" (
	"killmail_id" bigint NOT NULL,
	"killmail_time" timestamp with time zone NOT NULL,
	"isk_value" numeric NOT NULL,
	"module_tags" text[] NOT NULL,
	"enrichment_blob" jsonb NOT NULL,
	"enriched_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "killmails_enriched_pkey" PRIMARY KEY("killmail_id","killmail_time")
) PARTITION BY RANGE ("killmail_time");
--> statement-breakpoint
CREATE TABLE "killmails_raw" (
	"killmail_id" bigint NOT NULL,
	"killmail_time" timestamp with time zone NOT NULL,
	"system_id" bigint NOT NULL,
	"ship_type_id" bigint NOT NULL,
	"raw_payload" jsonb NOT NULL,
	"inserted_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "killmails_raw_pkey" PRIMARY KEY("killmail_id","killmail_time")
) PARTITION BY RANGE ("killmail_time");
--> statement-breakpoint
CREATE TABLE "surveillance_filters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"profile_id" bigint NOT NULL,
	"order_index" integer NOT NULL,
	"filter_type" "surveillance_filter_type" NOT NULL,
	"value" jsonb NOT NULL,
	CONSTRAINT "surveillance_filters_profile_order_key" UNIQUE("profile_id","order_index")
);
--> statement-breakpoint
CREATE TABLE "surveillance_profiles" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" bigint NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "systems" (
	"id" bigint PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"security_status" real,
	"region_id" bigint
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users_characters" (
	"user_id" bigint NOT NULL,
	"character_id" bigint NOT NULL,
	CONSTRAINT "users_characters_pkey" PRIMARY KEY("user_id","character_id")
);
--> statement-breakpoint
CREATE TABLE "dungeon" (
	"id" integer PRIMARY KEY NOT NULL,
	"name" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "leaderboard_run" (
	"id" bigserial NOT NULL,
	"run_guid" uuid NOT NULL,
	"region" varchar(8),
	"season_id" integer NOT NULL,
	"period_id" integer,
	"dungeon_id" integer,
	"realm_id" integer,
	"completed_at" timestamp,
	"duration_ms" integer,
	"keystone_level" integer,
	"score" double precision,
	"rank" integer,
	CONSTRAINT "leaderboard_run_pkey" PRIMARY KEY("season_id","id"),
	CONSTRAINT "leaderboard_run_season_id_run_guid_key" UNIQUE("season_id","run_guid"),
	CONSTRAINT "leaderboard_run_natural_key" UNIQUE("dungeon_id","period_id","season_id","region","completed_at","duration_ms","keystone_level","score")
) PARTITION BY LIST ("season_id");
--> statement-breakpoint
CREATE TABLE "period" (
	"id" integer PRIMARY KEY NOT NULL,
	"season_id" integer,
	"starts_at" timestamp with time zone,
	"ends_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "realm" (
	"id" integer PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"region" varchar(8) NOT NULL
);
--> statement-breakpoint
CREATE TABLE "run_group_member" (
	"season_id" integer NOT NULL,
	"run_guid" uuid NOT NULL,
	"character_name" varchar(64) NOT NULL,
	"class_id" integer,
	"spec_id" integer,
	"role" varchar(16),
	CONSTRAINT "run_group_member_pkey" PRIMARY KEY("season_id","run_guid","character_name")
) PARTITION BY LIST ("season_id");
--> statement-breakpoint
CREATE TABLE "season" (
	"id" integer PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"starts_at" timestamp with time zone,
	"ends_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "killmail_participants" ADD CONSTRAINT "killmail_participants_raw_fkey" FOREIGN KEY ("killmail_id","killmail_time") REFERENCES "public"."killmails_raw"("killmail_id","killmail_time") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "killmails_enriched" ADD CONSTRAINT "killmails_enriched_raw_fkey" FOREIGN KEY ("killmail_id","killmail_time") REFERENCES "public"."killmails_raw"("killmail_id","killmail_time") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "surveillance_filters" ADD CONSTRAINT "surveillance_filters_profile_id_surveillance_profiles_id_fk" FOREIGN KEY ("profile_id") REFERENCES "public"."surveillance_profiles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "surveillance_profiles" ADD CONSTRAINT "surveillance_profiles_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users_characters" ADD CONSTRAINT "users_characters_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_run" ADD CONSTRAINT "leaderboard_run_season_id_season_id_fk" FOREIGN KEY ("season_id") REFERENCES "public"."season"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_run" ADD CONSTRAINT "leaderboard_run_period_id_period_id_fk" FOREIGN KEY ("period_id") REFERENCES "public"."period"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_run" ADD CONSTRAINT "leaderboard_run_dungeon_id_dungeon_id_fk" FOREIGN KEY ("dungeon_id") REFERENCES "public"."dungeon"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "leaderboard_run" ADD CONSTRAINT "leaderboard_run_realm_id_realm_id_fk" FOREIGN KEY ("realm_id") REFERENCES "public"."realm"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "period" ADD CONSTRAINT "period_season_id_season_id_fk" FOREIGN KEY ("season_id") REFERENCES "public"."season"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "run_group_member" ADD CONSTRAINT "run_group_member_run_fkey" FOREIGN KEY ("season_id","run_guid") REFERENCES "public"."leaderboard_run"("season_id","run_guid") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idx_alliances_name_trgm" ON "alliances" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_characters_name_trgm" ON "characters" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_characters_corporation" ON "characters" USING btree ("corporation_id");--> statement-breakpoint
CREATE INDEX "idx_characters_alliance" ON "characters" USING btree ("alliance_id");--> statement-breakpoint
CREATE INDEX "idx_corporations_name_trgm" ON "corporations" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_killmail_participants_character" ON "killmail_participants" USING btree ("character_id","killmail_time" DESC NULLS FIRST,"killmail_id" DESC NULLS FIRST) WHERE character_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_killmail_participants_corporation" ON "killmail_participants" USING btree ("corporation_id","killmail_time" DESC NULLS FIRST,"killmail_id" DESC NULLS FIRST) WHERE corporation_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_killmail_participants_alliance" ON "killmail_participants" USING btree ("alliance_id","killmail_time" DESC NULLS FIRST,"killmail_id" DESC NULLS FIRST) WHERE alliance_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "idx_killmails_enriched_enriched_at" ON "killmails_enriched" USING btree ("enriched_at" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "idx_killmails_enriched_isk_value" ON "killmails_enriched" USING btree ("isk_value");--> statement-breakpoint
CREATE INDEX "idx_killmails_enriched_module_tags" ON "killmails_enriched" USING gin ("module_tags");--> statement-breakpoint
CREATE INDEX "idx_killmails_enriched_blob" ON "killmails_enriched" USING gin ("enrichment_blob" jsonb_path_ops);--> statement-breakpoint
CREATE INDEX "idx_killmails_raw_time" ON "killmails_raw" USING btree ("killmail_time" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "idx_killmails_raw_system_time" ON "killmails_raw" USING btree ("system_id","killmail_time" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "idx_killmails_raw_ship_type_time" ON "killmails_raw" USING btree ("ship_type_id","killmail_time" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "idx_surveillance_filters_type" ON "surveillance_filters" USING btree ("filter_type");--> statement-breakpoint
CREATE INDEX "idx_surveillance_filters_value" ON "surveillance_filters" USING gin ("value");--> statement-breakpoint
CREATE INDEX "idx_surveillance_profiles_user" ON "surveillance_profiles" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "idx_systems_name_trgm" ON "systems" USING gin ("name" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_users_characters_character" ON "users_characters" USING btree ("character_id");--> statement-breakpoint
CREATE INDEX "idx_leaderboard_run_run_guid" ON "leaderboard_run" USING btree ("run_guid");--> statement-breakpoint
CREATE INDEX "idx_leaderboard_run_season_dungeon" ON "leaderboard_run" USING btree ("season_id","dungeon_id","keystone_level" DESC NULLS FIRST,"score");--> statement-breakpoint
CREATE INDEX "idx_leaderboard_run_season_period_dungeon" ON "leaderboard_run" USING btree ("season_id","period_id","dungeon_id","keystone_level" DESC NULLS FIRST,"score" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "idx_run_group_member_season_character" ON "run_group_member" USING btree ("season_id","character_name");