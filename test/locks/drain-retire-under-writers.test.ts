import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey } from '../../src/ops/retention.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { insertRuns, setupSeasons } from '../drain/leaderboard-fixture.js';
import { seedRuns, startAppWriters } from '../support/app-writers.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * A drain (the server's default strategy, then delete) and a retire while the app writes in
 * every shape, 3 connections each, into a partitioned season (13) and into the seasons being
 * drained (14, 12: DEFAULT until their drain): no app transaction aborted with 40P01, every
 * acknowledged write present afterwards, writers' longest lock wait measured by the server.
 */
describe('drain and retire while the app writes through the parents', () => {
  it('never deadlock with writers of any shape; every committed row is there', async () => {
    await setupSeasons(t.sql);
    await t.sql`INSERT INTO season (id, name) VALUES (11, 'S11')`;
    for (const table of leaderboardFamily.tables) {
      for (const s of createPartitionSql(leaderboardFamily, table, { kind: 'list', value: 11 }))
        await t.sql.unsafe(s);
    }
    await insertRuns(t.sql, 11, 2000);
    await insertRuns(t.sql, 12, 3000);
    await insertRuns(t.sql, 14, 3000);
    const seasons = [13, 14, 12];
    const memberTargets = [];
    const deleteTargets = [];
    for (const season of seasons) {
      for (const guid of await seedRuns(t.sql, season, 30)) memberTargets.push({ guid, season });
      for (const guid of await seedRuns(t.sql, season, 150)) deleteTargets.push({ guid, season });
    }
    deleteTargets.sort(() => Math.random() - 0.5);

    const writers = startAppWriters(t, {
      seasons,
      shapes: ['runs-and-members', 'members-only', 'deletes'],
      memberTargets,
      deleteTargets,
    });
    const holds: string[] = [];
    try {
      const first = await drainKey(t.db, leaderboardFamily, { kind: 'list', value: 14 });
      holds.push(
        `${first.strategy} ${Math.round(first.maxLockHoldMs)} ms (${first.finalAttempts} attempts)`,
      );
      const second = await drainKey(
        t.db,
        leaderboardFamily,
        { kind: 'list', value: 12 },
        {
          strategy: 'delete',
        },
      );
      holds.push(
        `${second.strategy} ${Math.round(second.maxLockHoldMs)} ms (${second.finalAttempts} attempts)`,
      );
      const retired = await retireKey(t.db, leaderboardFamily, { kind: 'list', value: 11 });
      expect(retired.status).toBe('retired');
    } finally {
      const report = await writers.stop();
      console.log(
        `drain x2 + retire under writers: ${JSON.stringify(report.transactions)} app transactions, ` +
          `${report.deadlocks} deadlocks, longest writer lock wait ${report.longestLockWaitMs} ms ` +
          `(${report.samples} samples); drains' lock holds: ${holds.join(', ')}`,
      );
      expect(report.otherErrors).toEqual([]);
      expect(report.deadlocks).toBe(0);
      expect(report.transactions['members-only']).toBeGreaterThan(0);
    }
    expect(await writers.verify(t.sql)).toEqual([]);
    const [left] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM leaderboard_run_default WHERE season_id IN (12, 14)`;
    expect(left?.n).toBe(0);
  }, 300_000);
});
