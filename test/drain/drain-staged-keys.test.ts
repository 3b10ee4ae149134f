import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { useTestDatabase } from '../support/test-database.js';
import { digests, insertRuns, rowsByPartition, setupSeasons } from './leaderboard-fixture.js';

const t = useTestDatabase();

describe("a drain's staged foreign keys (delete strategy, triggers skipped)", () => {
  it('a run deleted after the last replay, before the key is added: validated after a replay, no row lost', async () => {
    await setupSeasons(t.sql);
    await insertRuns(t.sql, 14, 200);
    await insertRuns(t.sql, 12, 50, 5000);
    let deleted = 0;
    const result = await drainKey(
      t.db,
      leaderboardFamily,
      { kind: 'list', value: 14 },
      {
        strategy: 'delete',
        onPhase: async (phase) => {
          if (phase !== 'keys') return;
          // An app deleting runs of the season: the cascade removes their members from DEFAULT,
          // the staged copies stay until a replay. Validated now, they would be orphans.
          const gone = await t.sql`DELETE FROM leaderboard_run
            WHERE season_id = 14 AND id IN (SELECT id FROM leaderboard_run WHERE season_id = 14 ORDER BY id LIMIT 7)
            RETURNING id`;
          deleted = gone.length;
        },
      },
    );
    expect(deleted).toBe(7);
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', skippedTriggers: true });
    // The rows moved are exactly what the season holds after the app's deletes.
    expect(result.rowsMoved).toBe((200 - 7) * 6);
    const after = await digests(t.sql);
    const parts = await rowsByPartition(t.sql);
    expect(parts.leaderboard_run_s14).toBe(193);
    expect(parts.run_group_member_s14).toBe(193 * 5);
    // Nothing else changed: the other season's rows, counted and checksummed, are as written.
    const [other] = await t.sql<{ runs: number; members: number }[]>`
      SELECT (SELECT count(*)::int FROM leaderboard_run WHERE season_id = 12) AS runs,
             (SELECT count(*)::int FROM run_group_member WHERE season_id = 12) AS members`;
    expect(other).toEqual({ runs: 50, members: 250 });
    expect(after.runs.rows).toBe(193 + 50);
    // Every staged member has its run: the key the partition carries is valid.
    const [key] = await t.sql<{ convalidated: boolean }[]>`
      SELECT convalidated FROM pg_constraint
      WHERE conrelid = 'run_group_member_s14'::regclass AND contype = 'f' AND confrelid = 'leaderboard_run'::regclass`;
    expect(key?.convalidated).toBe(true);
  });
});
