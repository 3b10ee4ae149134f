import { PgpartsError } from '../errors.js';
import { type ConversionTarget, conversionTarget } from '../ops/convert/target.js';
import { killmailFamily } from './killmails/partitioning.js';
import { killmailParticipants, killmailsEnriched, killmailsRaw } from './killmails/tables.js';
import { leaderboardExtrasNow } from './leaderboard/migration-sql.js';
import { leaderboardFamily } from './leaderboard/partitioning.js';
import { leaderboardRun, runGroupMember } from './leaderboard/tables.js';

/** The package's own families as conversion targets, for `pgparts convert <family>`. */
export const builtInTargets: readonly ConversionTarget[] = [
  conversionTarget({
    family: leaderboardFamily,
    tables: [leaderboardRun, runGroupMember],
    // The INCLUDE cleanup index and the four top_keys_* views, as the migrations leave them.
    extras: leaderboardExtrasNow(),
  }),
  conversionTarget({
    family: killmailFamily,
    tables: [killmailsRaw, killmailsEnriched, killmailParticipants],
  }),
];

export function builtInTarget(name: string): ConversionTarget {
  const target = builtInTargets.find((t) => t.family.name === name);
  if (!target) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: no family ${JSON.stringify(name)} to convert; known: ${builtInTargets.map((t) => t.family.name).join(', ')}`,
    );
  }
  return target;
}
