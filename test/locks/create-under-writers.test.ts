import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { apply } from '../../src/run/apply.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { seedRuns, startAppWriters } from '../support/app-writers.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * Ten applies that each create a new season's partitions in both leaderboard tables while an
 * app writes through the parents in every shape (runs with members, members alone, deletes; 3
 * connections each), into a season with partitions (13) and into DEFAULT (12). Creating a
 * partition must not deadlock with them: no app transaction aborted with 40P01, every
 * acknowledged write present, and the writers' lock waits (measured by the server) reported.
 */
describe('creating partitions while the app writes through the parents', () => {
  it('never deadlocks with writers of any shape; every committed row is there', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (12, 'S12'), (13, 'S13')`;
    await t.sql`INSERT INTO dungeon (id, name) VALUES (1, 'D1'), (2, 'D2')`;
    for (const table of leaderboardFamily.tables) {
      for (const s of createPartitionSql(leaderboardFamily, table, { kind: 'list', value: 13 }))
        await t.sql.unsafe(s);
    }
    const memberTargets = [
      ...(await seedRuns(t.sql, 13, 50)).map((guid) => ({ guid, season: 13 })),
      ...(await seedRuns(t.sql, 12, 50)).map((guid) => ({ guid, season: 12 })),
    ];
    const deleteTargets = [
      ...(await seedRuns(t.sql, 13, 400)).map((guid) => ({ guid, season: 13 })),
      ...(await seedRuns(t.sql, 12, 400)).map((guid) => ({ guid, season: 12 })),
    ].sort(() => Math.random() - 0.5);

    const writers = startAppWriters(t, {
      seasons: [13, 12],
      shapes: ['runs-and-members', 'members-only', 'deletes'],
      memberTargets,
      deleteTargets,
    });
    const failures: string[] = [];
    let lockConflicts = 0;
    try {
      for (let i = 0; i < 10; i += 1) {
        const season = 100 + i;
        await t.sql`INSERT INTO season (id, name) VALUES (${season}, ${`S${season}`})`;
        const result = await apply(t.db, {
          families: [leaderboardFamily],
          retention: false,
          // Season 12 lives in DEFAULT on purpose (the writers write there); not drained here.
          executors: { drain: async () => 'not drained in this test' },
        });
        lockConflicts += result.results.reduce((n, r) => n + r.lockTimeouts, 0);
        console.log(
          `apply ${i}: ${Math.round(result.elapsedMs)} ms`,
          result.results.map(
            (r) => `${r.step.id} ${r.outcome} ${r.attempts} ${Math.round(r.ms)}ms`,
          ),
        );
        for (const r of result.results) {
          if (r.outcome === 'failed') failures.push(`${r.step.id}: ${r.message}`);
        }
      }
    } finally {
      const report = await writers.stop();
      console.log(
        `create x10 under writers: ${JSON.stringify(report.transactions)} app transactions, ` +
          `${report.deadlocks} deadlocks, longest writer lock wait ${report.longestLockWaitMs} ms ` +
          `(${report.samples} samples), pgparts lock conflicts retried: ${lockConflicts}`,
      );
      expect(report.otherErrors).toEqual([]);
      expect(report.deadlocks).toBe(0);
      expect(report.transactions['runs-and-members']).toBeGreaterThan(0);
      expect(report.transactions['members-only']).toBeGreaterThan(0);
      expect(report.transactions.deletes).toBeGreaterThan(0);
    }
    expect(failures).toEqual([]);
    expect(await writers.verify(t.sql)).toEqual([]);
    const created = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE c.relname ~ '_s1[0-9][0-9]$'`;
    expect(created[0]?.n).toBe(20);
  }, 300_000);
});
