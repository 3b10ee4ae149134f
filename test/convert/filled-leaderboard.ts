import { builtInTarget } from '../../src/domains/presets.js';
import { convertBackfill, convertFill, convertPrep } from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import type { TestDatabase } from '../support/test-database.js';

/** The built-in leaderboard's conversion target. */
export const leaderboardTarget = builtInTarget('leaderboard');

/**
 * 400 legacy runs in two seasons (5 members each), prepped, backfilled and (unless told not to)
 * filled: where the conversion tests that race the app start.
 */
export async function filledLeaderboard(
  t: TestDatabase,
  options: { fill?: boolean } = {},
): Promise<void> {
  await buildLegacyLeaderboard(t.sql, { runs: 400, seasons: 2 });
  await convertPrep(t.db, leaderboardTarget);
  await convertBackfill(t.db, leaderboardTarget);
  if (options.fill !== false) await convertFill(t.db, leaderboardTarget);
}
