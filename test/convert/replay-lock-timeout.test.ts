import { describe, expect, it } from 'vitest';
import { catchUp } from '../../src/ops/convert/fill.js';
import { convertVerify, formatVerifyReport } from '../../src/ops/convert/index.js';
import { readLayouts } from '../../src/ops/convert/layout.js';
import { sides } from '../../src/ops/convert/names.js';
import { openTransaction } from '../support/open-transaction.js';
import { useTestDatabase } from '../support/test-database.js';
import { filledLeaderboard, leaderboardTarget } from './filled-leaderboard.js';

const target = leaderboardTarget;

/** Locks not granted right now, as the server lists them. */
async function waiting(t: ReturnType<typeof useTestDatabase>): Promise<number> {
  const [row] = await t.sql<
    { n: number }[]
  >`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`;
  return row?.n ?? 0;
}

describe("fill's replay and a lock an app transaction holds", () => {
  const t = useTestDatabase({ migrated: false });
  it('waits at most lock_timeout for it, gives way, and goes on once it is free', async () => {
    await filledLeaderboard(t);
    // Changes the replay writes to dungeon 8's copies, which an app transaction holds.
    await t.sql`UPDATE leaderboard_run SET rank = 1 WHERE dungeon_id = 8`;
    const holder = await openTransaction(t.connect({ max: 1 }), [
      'SELECT 1 FROM pgparts_leaderboard_new.leaderboard_run WHERE dungeon_id = 8 FOR UPDATE',
    ]);
    let replay: Promise<number> | undefined;
    try {
      const s = sides(target.family, false);
      replay = catchUp(t.db, target, await readLayouts(t.db, target, s), 'forward', s, 1_000);
      replay.catch(() => {});
      // The replay waits for the holder (seen in pg_locks), then stops waiting while the holder
      // still holds: its lock_timeout ended the wait (a batch with none waited for good, and an
      // app transaction in a cycle with it was the one the server aborted).
      const seen = performance.now();
      while ((await waiting(t)) === 0) {
        if (performance.now() - seen > 10_000) throw new Error('the replay never waited');
      }
      const from = performance.now();
      while ((await waiting(t)) > 0) {
        if (performance.now() - from > 5_000) throw new Error('the replay still waits after 5 s');
      }
      expect(performance.now() - from).toBeLessThan(5_000);
    } finally {
      await holder.commit();
    }
    expect(await replay).toBeGreaterThan(0);
    const report = await convertVerify(t.db, target);
    expect(report.ok, formatVerifyReport(report)).toBe(true);
  });
});
