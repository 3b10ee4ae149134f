DROP INDEX "idx_killmails_enriched_isk_value";--> statement-breakpoint
CREATE INDEX "idx_killmails_enriched_time" ON "killmails_enriched" USING btree ("killmail_time" DESC NULLS FIRST,"killmail_id" DESC NULLS FIRST);--> statement-breakpoint
CREATE INDEX "idx_killmails_enriched_isk_value" ON "killmails_enriched" USING btree ("isk_value","killmail_time");