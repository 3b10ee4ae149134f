-- pgparts: written by `pgparts generate` from pgparts.config. Do not edit.
ALTER TABLE "app_events" ALTER COLUMN "payload" SET STATISTICS 1000;
