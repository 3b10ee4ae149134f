import { killmailMigrationSql } from './killmails/migration-sql.js';
import { killmailFamily } from './killmails/partitioning.js';
import { leaderboardMigrationSql } from './leaderboard/migration-sql.js';
import { leaderboardFamily } from './leaderboard/partitioning.js';

/** The package's own families, the default for `maintain` and the CLI. */
export const builtInFamilies = [leaderboardFamily, killmailFamily];

/** The partition migration's statements, in order (written by `npm run db:generate`). */
export function partitionMigrationSql(): string[] {
  return [...leaderboardMigrationSql(), ...killmailMigrationSql()];
}
