-- pgparts: written by `pgparts generate` from pgparts.config. Do not edit.
ALTER TABLE "killmails_enriched" ALTER COLUMN "enrichment_blob" SET STATISTICS 1000;
