/**
 * The package's own domains as presets (`pgparts/presets`): an app that uses the leaderboard or
 * killmail tables passes `builtInFamilies` (or one of them) to `maintain`, `apply` and the CLI's
 * config, and converts with `builtInTargets`.
 */

import type { SqlObject } from '../migrations/app-config.js';
import { familyMigrationSql } from '../sql/partition-ddl.js';
import { enrichmentStatisticsSql, killmailMigrationSql } from './killmails/migration-sql.js';
import { killmailFamily } from './killmails/partitioning.js';
import { leaderboardMigrationSql } from './leaderboard/migration-sql.js';
import { leaderboardFamily } from './leaderboard/partitioning.js';
import { rankedTopKeysMigrationSql } from './leaderboard/views.js';

export { builtInTarget, builtInTargets } from './conversion-targets.js';
export { killmailFamily, leaderboardFamily };

/** The package's own families, the default for the CLI without `--config`. */
export const builtInFamilies = [leaderboardFamily, killmailFamily];

/** The partition migration's statements, in order (as drizzle/0002_partitions.sql holds them). */
export function partitionMigrationSql(): string[] {
  return [...leaderboardMigrationSql(), ...killmailMigrationSql()];
}

/** Extensions the built-in schema needs: pg_trgm, for the name search trigram indexes. */
export const builtInExtensions = ['pg_trgm'];

/**
 * What the built-in domains need beyond their Drizzle tables and partitions, as `pgparts
 * generate` objects: the leaderboard's INCLUDE cleanup index and top_keys_* views, the lookup
 * tables' name search indexes, the enrichment JSON's statistics target.
 */
export function builtInObjects(): SqlObject[] {
  const after = (all: string[], family: Parameters<typeof familyMigrationSql>[0]) =>
    all.slice(familyMigrationSql(family).length);
  return [
    { name: 'leaderboard', sql: after(leaderboardMigrationSql(), leaderboardFamily) },
    { name: 'killmails', sql: after(killmailMigrationSql(), killmailFamily) },
    // Written once, after the first two: the top_keys_* views of ranked runs only.
    { name: 'leaderboard-ranked-views', sql: rankedTopKeysMigrationSql() },
    // Written after those: the statistics target killsWithEnrichment's plan needs.
    { name: 'killmails-enrichment-statistics', sql: enrichmentStatisticsSql() },
  ];
}
