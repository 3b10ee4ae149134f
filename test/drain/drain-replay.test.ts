import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { useTestDatabase } from '../support/test-database.js';
import { digests, insertRuns, rowsByPartition, setupSeasons } from './leaderboard-fixture.js';

const t = useTestDatabase();

/**
 * The drain's replay (src/ops/online-copy/replay.ts, a keys log) after the copy: rows updated
 * in place, rows whose partition column moves them into and out of the key, rows deleted (with
 * the cascade into their members) and rows inserted. The result must be the tables as the
 * writes left them (counts and checksums), each row in the partition of its current key, and
 * the rows moved as counted by the replay equal to the rows the new partitions hold.
 */
async function writeAfterCopy(): Promise<void> {
  // In place: a run of season 14 rescored, a member of one renamed its role.
  await t.sql`UPDATE leaderboard_run SET score = score + 1000
              WHERE id IN (SELECT id FROM leaderboard_run WHERE season_id = 14 ORDER BY id LIMIT 20)`;
  await t.sql`UPDATE run_group_member SET role = 'moved-in-place'
              WHERE (season_id, run_guid) IN (SELECT season_id, run_guid FROM leaderboard_run
                                              WHERE season_id = 14 ORDER BY id LIMIT 3)`;
  // Into and out of the key: runs without members (their foreign key does not follow them).
  await t.sql`INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
              SELECT gen_random_uuid(), 'kr', 12, 1, now(), 7000000 + i, 5, 1 FROM generate_series(1, 15) i`;
  await t.sql`UPDATE leaderboard_run SET season_id = 14 WHERE region = 'kr' AND duration_ms <= 7000010`;
  await t.sql`UPDATE leaderboard_run SET season_id = 12 WHERE region = 'kr' AND duration_ms <= 7000003`;
  // Copied under the key and moved out of it; copied elsewhere (a swap: into the rebuilt
  // DEFAULT) and moved into it.
  await t.sql`UPDATE leaderboard_run SET season_id = 12 WHERE region = 'solo' AND duration_ms BETWEEN 6000001 AND 6000004`;
  await t.sql`UPDATE leaderboard_run SET season_id = 14 WHERE region = 'solo' AND duration_ms BETWEEN 5800001 AND 5800005`;
  // Deleted: the cascade removes their members from DEFAULT too; both are logged.
  await t.sql`DELETE FROM leaderboard_run
              WHERE id IN (SELECT id FROM leaderboard_run WHERE season_id = 14 ORDER BY id OFFSET 50 LIMIT 7)`;
  // Inserted with members, in both seasons.
  await insertRuns(t.sql, 14, 11, 8_000_000);
  await insertRuns(t.sql, 12, 4, 9_000_000);
}

beforeAll(async () => {
  await setupSeasons(t.sql);
  await t.sql`INSERT INTO season (id, name) VALUES (15, 'S15')`;
  await insertRuns(t.sql, 14, 200);
  await insertRuns(t.sql, 12, 100, 5000);
  await insertRuns(t.sql, 15, 150, 20_000);
  // Runs without members (a run's season changes only without them: their key follows it),
  // copied with the rest, to move out of and into the key after the copy.
  await t.sql`INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
              SELECT gen_random_uuid(), 'solo', s, 1, now(), 6000000 + (s - 14) * 100000 + i, 5, 1
              FROM generate_series(1, 12) i, (VALUES (12), (14), (15)) v(s)`;
});

describe('a drain replays updates, moves between keys and deletes logged after its copy', () => {
  // auto: a swap on PostgreSQL 18 (the rebuilt DEFAULT is a second target), else a delete.
  for (const strategy of ['auto', 'delete'] as const) {
    it(`${strategy}: ends with the tables as written, each row under its current key`, async () => {
      const season = strategy === 'auto' ? 14 : 15;
      if (season === 15) await t.sql`UPDATE leaderboard_run SET region = 'old' WHERE region = 'kr'`;
      let after: Awaited<ReturnType<typeof digests>> | null = null;
      let lastWrites = false;
      const result = await drainKey(
        t.db,
        leaderboardFamily,
        { kind: 'list', value: season },
        {
          strategy,
          onPhase: async (phase) => {
            if (phase === 'finishing' && season === 14 && !lastWrites) {
              // Logged just before the final phase, replayed under its locks: a swap counts
              // these rows by the replay's gains, not by counting the staging table.
              lastWrites = true;
              await insertRuns(t.sql, 14, 3, 8_600_000);
              await t.sql`DELETE FROM leaderboard_run
                          WHERE id IN (SELECT id FROM leaderboard_run WHERE season_id = 14 ORDER BY id OFFSET 60 LIMIT 2)`;
              await t.sql`UPDATE leaderboard_run SET season_id = 14 WHERE region = 'solo' AND duration_ms = 5800008`;
              after = await digests(t.sql);
            }
            if (phase !== 'copied') return;
            if (season === 15) {
              await t.sql`UPDATE leaderboard_run SET score = score + 1000
                          WHERE id IN (SELECT id FROM leaderboard_run WHERE season_id = 15 ORDER BY id LIMIT 20)`;
              await t.sql`INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
                          SELECT gen_random_uuid(), 'kr', 12, 1, now(), 7100000 + i, 5, 1 FROM generate_series(1, 9) i`;
              await t.sql`UPDATE leaderboard_run SET season_id = 15 WHERE region = 'kr' AND duration_ms <= 7100006`;
              await t.sql`UPDATE leaderboard_run SET season_id = 12 WHERE region = 'kr' AND duration_ms <= 7100002`;
              await t.sql`DELETE FROM leaderboard_run
                          WHERE id IN (SELECT id FROM leaderboard_run WHERE season_id = 15 ORDER BY id OFFSET 50 LIMIT 5)`;
              await insertRuns(t.sql, 15, 6, 8_500_000);
              await t.sql`UPDATE leaderboard_run SET season_id = 12 WHERE region = 'solo' AND duration_ms BETWEEN 6100001 AND 6100003`;
              await t.sql`UPDATE leaderboard_run SET season_id = 15 WHERE region = 'solo' AND duration_ms BETWEEN 5800006 AND 5800007`;
            } else {
              await writeAfterCopy();
            }
            after = await digests(t.sql);
          },
        },
      );
      expect(result.status).toBe('drained');
      if (strategy === 'delete') expect(result.strategy).toBe('delete');
      expect(after).not.toBeNull();
      // Nothing lost, nothing doubled, no member taken by a cascade: the tables as written.
      expect(await digests(t.sql)).toEqual(after);
      const [moved] = await t.sql<{ runs: number; members: number; elsewhere: number }[]>`
        SELECT (SELECT count(*)::int FROM leaderboard_run WHERE season_id = ${season}) AS runs,
               (SELECT count(*)::int FROM run_group_member WHERE season_id = ${season}) AS members,
               (SELECT count(*)::int FROM leaderboard_run_default WHERE season_id = ${season}) AS elsewhere`;
      expect(moved?.elsewhere).toBe(0);
      const parts = await rowsByPartition(t.sql);
      expect(parts[`leaderboard_run_s${season}`]).toBe(moved?.runs);
      expect(parts[`run_group_member_s${season}`]).toBe(moved?.members);
      // The rows moved, as the drain counted them (a swap: by the replay's count of its gains).
      expect(result.tables).toEqual([
        {
          table: 'leaderboard_run',
          partition: `leaderboard_run_s${season}`,
          rowsMoved: moved?.runs,
        },
        {
          table: 'run_group_member',
          partition: `run_group_member_s${season}`,
          rowsMoved: moved?.members,
        },
      ]);
      // What the writes left: 12 solo runs, 7 (or 5) deleted, 11 (or 6) inserted, 10 (or 6) moved
      // in and 3 (or 2) out again, 4 (or 3) copied solo runs moved out, 5 (or 2) moved in.
      // Before the final phase: 3 inserted, 2 deleted, 1 moved in.
      if (season === 14) expect(moved?.runs).toBe(200 + 12 - 7 + 11 + 10 - 3 - 4 + 5 + 3 - 2 + 1);
      else expect(moved?.runs).toBe(150 + 12 - 5 + 6 + 6 - 2 - 3 + 2);
    });
  }
});
