DROP INDEX "idx_alliances_name_trgm";--> statement-breakpoint
DROP INDEX "idx_characters_name_trgm";--> statement-breakpoint
DROP INDEX "idx_corporations_name_trgm";--> statement-breakpoint
DROP INDEX "idx_systems_name_trgm";--> statement-breakpoint
CREATE INDEX "idx_alliances_name_prefix" ON "alliances" USING btree (lower("name") COLLATE "C");--> statement-breakpoint
CREATE INDEX "idx_characters_name_prefix" ON "characters" USING btree (lower("name") COLLATE "C");--> statement-breakpoint
CREATE INDEX "idx_corporations_name_prefix" ON "corporations" USING btree (lower("name") COLLATE "C");--> statement-breakpoint
CREATE INDEX "idx_systems_name_prefix" ON "systems" USING btree (lower("name") COLLATE "C");--> statement-breakpoint
CREATE INDEX "idx_alliances_name_trgm" ON "alliances" USING gist ("name" gist_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_characters_name_trgm" ON "characters" USING gist ("name" gist_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_corporations_name_trgm" ON "corporations" USING gist ("name" gist_trgm_ops);--> statement-breakpoint
CREATE INDEX "idx_systems_name_trgm" ON "systems" USING gist ("name" gist_trgm_ops);