import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { isPgpartsError } from '../../src/errors.js';
import { type DrainOptions, drainKey } from '../../src/ops/drain/drain.js';
import { isConnectionLoss } from '../../src/run/pg-error.js';
import { killWhileWaiting } from '../support/kill-while-waiting.js';
import { useTestDatabase } from '../support/test-database.js';
import { digests, insertRuns, rowsByPartition, setupSeasons } from './leaderboard-fixture.js';

const t = useTestDatabase();

type Point = NonNullable<Parameters<NonNullable<DrainOptions['onPhase']>>[0]>;

beforeAll(async () => {
  await setupSeasons(t.sql);
  await t.sql`INSERT INTO season (id, name) VALUES (15, 'S15'), (16, 'S16'), (17, 'S17')`;
  for (const season of [14, 15, 16, 17]) await insertRuns(t.sql, season, 400, season * 1000);
  await insertRuns(t.sql, 12, 100, 90_000);
});

describe('drainKey interrupted by pg_terminate_backend', () => {
  it.each([
    ['after prepare', 14, 'prepared'],
    ['after the online copy', 15, 'copied'],
    ['inside the final transaction, holding its locks', 16, 'locked'],
  ] as [string, number, Point][])(
    '%s: a rerun finishes with nothing lost or duplicated',
    async (_label, season, point) => {
      const before = await digests(t.sql);
      const key = { kind: 'list', value: season } as const;

      // node-postgres for the connection that gets killed: postgres.js 3.4 throws an uncaught
      // TypeError from its write queue when its backend dies inside a transaction.
      const victim = new pg.Client({ connectionString: t.url });
      victim.on('error', () => {});
      await victim.connect();
      const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]?.pid ?? 0;
      const interrupted = drainKey(drizzlePg(victim), leaderboardFamily, key, {
        onPhase: async (phase) => {
          if (phase !== point) return;
          // Between statements a pool just reconnects; so block the drain's next statement on a
          // lock, and terminate its backend while that statement waits. After 'locked' that
          // statement is inside the final transaction, which holds its locks on DEFAULT.
          await killWhileWaiting(
            t,
            pid,
            phase === 'prepared' ? 'leaderboard_run_default' : 'pgparts_changes',
          );
        },
      });
      // Said as pgparts's own connection error (a code to match on), the driver's as its cause.
      const error = await interrupted.then(
        () => null,
        (e: unknown) => e,
      );
      expect(isPgpartsError(error, 'connection'), String(error)).toBe(true);
      expect(String((error as Error).message)).toMatch(
        /^pgparts: drain: the connection to the database was lost: .+ run it again to continue$/,
      );
      expect(isConnectionLoss(error)).toBe(true);
      // Its connection is gone; end() on it may never settle, so do not wait for it.
      void victim.end().catch(() => {});

      // Nothing half-done is visible: the key's rows are still all in DEFAULT, or (never) attached.
      const attached = await t.sql`
      SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(${`leaderboard_run_s${season}`})`;
      expect(attached).toHaveLength(0);
      expect(await digests(t.sql)).toEqual(before);

      const rerun = await drainKey(drizzle(t.connect({ max: 2 })), leaderboardFamily, key);
      expect(rerun).toMatchObject({ status: 'drained', rowsMoved: 400 + 2000 });
      expect(await digests(t.sql)).toEqual(before);
      const parts = await rowsByPartition(t.sql);
      expect(parts[`leaderboard_run_s${season}`]).toBe(400);
      expect(parts[`run_group_member_s${season}`]).toBe(2000);
    },
  );

  it('after a swap committed, before its cleanup and validation: a rerun completes them', async () => {
    const [version] = await t.sql<{ v: number }[]>`
      SELECT current_setting('server_version_num')::int AS v`;
    const key = { kind: 'list', value: 17 } as const;
    if ((version?.v ?? 0) < 180000) {
      // No swap before PostgreSQL 18: nothing is validated after the commit.
      expect((await drainKey(t.db, leaderboardFamily, key)).strategy).toBe('delete');
      return;
    }
    const before = await digests(t.sql);
    const victim = new pg.Client({ connectionString: t.url });
    victim.on('error', () => {});
    await victim.connect();
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const interrupted = drainKey(drizzlePg(victim), leaderboardFamily, key, {
      onPhase: async (phase) => {
        // The first statement after the commit drops the old DEFAULT partitions.
        if (phase === 'validating')
          await killWhileWaiting(t, rows[0]?.pid ?? 0, 'leaderboard_run_default_drained');
      },
    });
    await expect(interrupted).rejects.toThrow();
    void victim.end().catch(() => {});

    // Committed: the rows are in their partitions; the key is NOT VALID yet, and still enforced.
    expect(await digests(t.sql)).toEqual(before);
    const parts = await rowsByPartition(t.sql);
    expect(parts.leaderboard_run_s17).toBe(400);
    expect(parts.run_group_member_s17).toBe(2000);
    const valid = () => t.sql<{ v: boolean }[]>`SELECT convalidated AS v FROM pg_constraint
      WHERE conrelid = 'run_group_member'::regclass AND contype = 'f' AND conparentid = 0`;
    expect(await valid()).toEqual([{ v: false }]);
    await expect(
      t.sql`INSERT INTO run_group_member (season_id, run_guid, character_name)
            VALUES (17, gen_random_uuid(), 'ghost')`,
    ).rejects.toMatchObject({ code: '23503' });

    const rerun = await drainKey(drizzle(t.connect({ max: 2 })), leaderboardFamily, key);
    expect(rerun.status).toBe('completed');
    expect(rerun.swap?.dropped).toContain('leaderboard_run_default_drained');
    expect(rerun.swap?.validated).toEqual([expect.stringMatching(/^run_group_member\./)]);
    expect(await valid()).toEqual([{ v: true }]);
    expect(await digests(t.sql)).toEqual(before);
    expect((await drainKey(t.db, leaderboardFamily, key)).status).toBe('nothing-to-do');
  });

  it('leaves season 12 alone in DEFAULT', async () => {
    const parts = await rowsByPartition(t.sql);
    expect(parts.leaderboard_run_default).toBe(100);
    expect(parts.run_group_member_default).toBe(500);
  });

  it("an interrupted drain's record and capture triggers are its family's only, not another's of the same schema", async () => {
    // The killmail feed is in the leaderboard's schema: inspect reads both families' records
    // and triggers in one read per schema, and splits them by family.
    const key = { kind: 'list', value: 12 } as const;
    await expect(
      drainKey(drizzle(t.connect({ max: 2 })), leaderboardFamily, key, {
        onPhase: async (phase) => {
          if (phase === 'prepared') throw new Error('stopped here by the test');
        },
      }),
    ).rejects.toThrow('stopped here by the test');
    const snapshot = await inspect(t.db, [leaderboardFamily, killmailFamily]);
    const [leaderboard, killmails] = snapshot.families;
    expect(killmailFamily.schema).toBe(leaderboardFamily.schema);
    expect(leaderboard?.unfinished.operations.map((o) => [o.operation, o.key])).toEqual([
      ['drain', '12'],
    ]);
    expect(leaderboard?.unfinished.captureTriggers).toEqual([
      'leaderboard_run_default',
      'run_group_member_default',
    ]);
    expect(killmails?.unfinished.operations).toEqual([]);
    expect(killmails?.unfinished.captureTriggers).toEqual([]);
    // The rerun finishes it.
    const rerun = await drainKey(drizzle(t.connect({ max: 2 })), leaderboardFamily, key);
    expect(rerun).toMatchObject({ status: 'drained', rowsMoved: 100 + 500 });
  });
});
