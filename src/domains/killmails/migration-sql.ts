import { quoteIdent } from '../../sql/identifiers.js';
import { familyMigrationSql } from '../../sql/partition-ddl.js';
import { statisticsTargetsSql } from '../../sql/statistics-targets.js';
import { killmailFamily } from './partitioning.js';

/** The lookup tables searched by suggestNames. */
export const NAME_TABLES = ['characters', 'corporations', 'alliances', 'systems'] as const;

/**
 * Per lookup table, what suggestNames needs beyond the schema's GIN trigram index (INCLUDE is
 * beyond Drizzle):
 * - idx_<table>_name_prefix on (lower(name) COLLATE "C", id) INCLUDE (name): prefix matches as
 *   an index range read in order, and fragment matches by walking it in order and filtering the
 *   included name, both index-only and stopped at the limit;
 * - statistics target 1000 on name: the planner picks between that walk and the GIN bitmap by
 *   how many names hold the fragment, which the default 100-value sample misjudges (measured at
 *   1M names: p95 40 ms with 100, 9 ms with 1000).
 */
export function nameSearchSql(): string[] {
  return NAME_TABLES.flatMap((table) => [
    `CREATE INDEX ${quoteIdent(`idx_${table}_name_prefix`)} ON ${quoteIdent(table)} USING btree (lower("name") COLLATE "C", "id") INCLUDE ("name")`,
    `ALTER TABLE ${quoteIdent(table)} ALTER COLUMN "name" SET STATISTICS 1000`,
  ]);
}

/**
 * Statistics target 1000 on killmails_enriched.enrichment_blob. killsWithEnrichment chooses
 * between the GIN index and reading the window newest first by how many blobs the planner
 * thinks hold the fragment, and it judges that from sampled whole blobs: with the default 100,
 * a fragment in 3% of a month's rows was estimated at 1% or at 0.01% depending on the draw, and
 * the low draw read 16,000 heap pages through the GIN index where the window needed 72 buffers.
 * With 1000 the same month put it at 3.7%, and planning took 0.4 ms. The parent's target reaches
 * the partitions that exist; pgparts gives it to each partition it creates.
 */
export function enrichmentStatisticsSql(): string[] {
  return statisticsTargetsSql(quoteIdent('killmails_enriched'), [
    { column: 'enrichment_blob', target: 1000 },
  ]);
}

/**
 * The killmail feed's part of the partition migration: its first window of monthly partitions,
 * and the lookup tables' name search indexes.
 */
export function killmailMigrationSql(): string[] {
  return [...familyMigrationSql(killmailFamily), ...nameSearchSql()];
}
