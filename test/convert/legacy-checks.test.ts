import { describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import { convertPrep } from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');

/**
 * A CHECK on a legacy table that the Drizzle table does not declare is not carried over: the
 * partitioned table would not enforce it after the swap, and a row written then that breaks it
 * stops an unswap (its replay writes the row into the legacy table). prep says so, with what to
 * do, and stops saying it once the twin has it.
 */
describe('a legacy CHECK constraint the Drizzle tables do not declare', () => {
  it('is named by prep (dry run and run), until the twin has it', async () => {
    await buildLegacyLeaderboard(t.sql, { runs: 100, seasons: 2 });
    await t.sql.unsafe(
      'ALTER TABLE leaderboard_run ADD CONSTRAINT score_not_negative CHECK (score >= 0)',
    );
    const line =
      /^constraint score_not_negative on public\.leaderboard_run \(CHECK \(\(?score >= \(?0\)?.*\)\) is not declared, so the partitioned table will not enforce it, and a row written after the swap that breaks it stops an unswap: add it \(same name\) to pgparts_leaderboard_new\.leaderboard_run or declare it in the Drizzle table, or drop it, before swap$/;
    expect((await convertPrep(t.db, target, { dryRun: true })).beforeSwap).toEqual([
      expect.stringMatching(line),
    ]);
    expect((await convertPrep(t.db, target)).beforeSwap).toEqual([expect.stringMatching(line)]);
    await t.sql.unsafe(
      'ALTER TABLE pgparts_leaderboard_new.leaderboard_run ADD CONSTRAINT score_not_negative CHECK (score >= 0)',
    );
    expect((await convertPrep(t.db, target)).beforeSwap).toEqual([]);
  });
});
