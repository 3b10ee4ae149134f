/**
 * The package's own domains as presets (`pgparts/presets`): an app that uses the leaderboard or
 * killmail tables passes `builtInFamilies` (or one of them) to `maintain`, `apply` and the CLI's
 * config, and converts with `builtInTargets`.
 */
import { killmailMigrationSql } from './killmails/migration-sql.js';
import { killmailFamily } from './killmails/partitioning.js';
import { leaderboardMigrationSql } from './leaderboard/migration-sql.js';
import { leaderboardFamily } from './leaderboard/partitioning.js';

export { builtInTarget, builtInTargets } from './conversion-targets.js';
export { killmailFamily, leaderboardFamily };

/** The package's own families, the default for the CLI without `--config`. */
export const builtInFamilies = [leaderboardFamily, killmailFamily];

/** The partition migration's statements, in order (written by `npm run db:generate`). */
export function partitionMigrationSql(): string[] {
  return [...leaderboardMigrationSql(), ...killmailMigrationSql()];
}
