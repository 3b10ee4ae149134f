import { describe, expect, it } from 'vitest';
import { convertFill, convertVerify, formatVerifyReport } from '../../src/ops/convert/index.js';
import { useTestDatabase } from '../support/test-database.js';
import { filledLeaderboard, leaderboardTarget } from './filled-leaderboard.js';

const target = leaderboardTarget;

describe('verify, when every row of a table changed since the last replay', () => {
  const t = useTestDatabase({ migrated: false });
  it('is no pass: nothing of that table was compared; after a replay it compares and passes', async () => {
    await filledLeaderboard(t);
    // The app touches every run (logged, not replayed yet); half of the copies are wrong.
    await t.sql`UPDATE leaderboard_run SET rank = 1`;
    await t.sql`UPDATE pgparts_leaderboard_new.leaderboard_run SET score = score + 1 WHERE id % 2 = 0`;
    const before = await convertVerify(t.db, target);
    const text = formatVerifyReport(before);
    expect(before.ok, text).toBe(false);
    expect(before.tables.map((x) => [x.table, x.legacyRows, x.leftOut])).toEqual([
      ['leaderboard_run', 0, 400],
      ['run_group_member', 2_000, 0],
    ]);
    expect(text).toMatch(/^verify leaderboard: NOT COMPARED/);
    expect(text).toMatch(
      /leaderboard_run: every row changed since the last replay, so none was compared: replay them \(convert leaderboard fill/,
    );
    await convertFill(t.db, target);
    const after = await convertVerify(t.db, target);
    expect(after.ok, formatVerifyReport(after)).toBe(true);
    expect(after.tables.map((x) => [x.legacyRows, x.leftOut])).toEqual([
      [400, 0],
      [2_000, 0],
    ]);
  });
});
