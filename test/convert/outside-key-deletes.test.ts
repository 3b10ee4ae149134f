import type postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import { catchUp } from '../../src/ops/convert/fill.js';
import {
  convertFill,
  convertSwap,
  convertUnswap,
  convertVerify,
  formatVerifyReport,
} from '../../src/ops/convert/index.js';
import { readLayouts } from '../../src/ops/convert/layout.js';
import { sides } from '../../src/ops/convert/names.js';
import { commitWhenWaitedOn } from '../support/commit-when-waited-on.js';
import { type TestDatabase, useTestDatabase } from '../support/test-database.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from './checksums.js';
import { filledLeaderboard } from './filled-leaderboard.js';

const target = builtInTarget('leaderboard');
const MEMBERS = [...MEMBER_COLUMNS, 'season_id'];

/**
 * The leaderboard's runs reference dungeons, a table outside the family. The app deletes a
 * dungeon's runs (their members first, or by the cascade after the swap) and then the dungeon,
 * while the other side holds copies of those runs that no replay has caught up yet: before the
 * swap the twins, after it the legacy tables.
 */
async function deleteDungeon(
  t: TestDatabase,
  dungeon: number,
  members: 'first' | 'cascade',
): Promise<void> {
  await t.sql.begin(async (tx) => {
    if (members === 'first')
      await tx`DELETE FROM run_group_member WHERE run_guid IN
                 (SELECT run_guid FROM leaderboard_run WHERE dungeon_id = ${dungeon})`;
    await tx`DELETE FROM leaderboard_run WHERE dungeon_id = ${dungeon}`;
    await tx`DELETE FROM dungeon WHERE id = ${dungeon}`;
  });
}

/** Opens a transaction on `app` that deletes a dungeon's runs (members first) and the dungeon. */
async function beginDeletingDungeon(app: postgres.ReservedSql, dungeon: number): Promise<void> {
  await app`BEGIN`;
  await app`DELETE FROM run_group_member WHERE run_guid IN
              (SELECT run_guid FROM leaderboard_run WHERE dungeon_id = ${dungeon})`;
  await app`DELETE FROM leaderboard_run WHERE dungeon_id = ${dungeon}`;
  await app`DELETE FROM dungeon WHERE id = ${dungeon}`;
}

/** verify passes, and both sides hold dungeon 8's runs no more (50 runs, 250 members). */
async function expectDungeonGoneOnBothSides(t: TestDatabase): Promise<void> {
  const report = await convertVerify(t.db, target);
  expect(report.ok, formatVerifyReport(report)).toBe(true);
  expect(report.tables.map((x) => [x.legacyRows, x.partitionedRows])).toEqual([
    [350, 350],
    [1_750, 1_750],
  ]);
}

/** Count and checksum of both tables of the family, as they are now where the app writes. */
const digests = async (t: TestDatabase) => ({
  runs: await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS),
  members: await countAndChecksum(t.sql, 'run_group_member', MEMBERS),
});

const removalTriggers = async (t: TestDatabase) =>
  (
    await t.sql<{ name: string }[]>`
      SELECT c.relnamespace::regnamespace::text || '.' || c.relname || ' ' || g.tgname AS name
      FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
      WHERE g.tgname LIKE 'pgparts_remove_copies%' AND g.tgparentid = 0 ORDER BY 1`
  ).map((r) => r.name);

describe("a conversion and the app's deletes of a table its tables reference", () => {
  const t = useTestDatabase({ migrated: false });
  it('deletes go through before and after the swap, and the copies converge on the rows left', async () => {
    await filledLeaderboard(t);
    expect(await removalTriggers(t)).toEqual([
      'public.leaderboard_run pgparts_remove_copies_forward',
      'public.run_group_member pgparts_remove_copies_forward',
    ]);
    // Before the swap: the twins hold copies of dungeon 8's runs until the next replay.
    await deleteDungeon(t, 8, 'first');
    const legacy = await digests(t);
    expect(legacy.runs.rows).toBe(350);
    await convertSwap(t.db, target);
    // The swap replayed the rest: the partitioned tables hold what the legacy ones held.
    expect(await digests(t)).toEqual(legacy);
    expect(await removalTriggers(t)).toEqual([
      'public.leaderboard_run pgparts_remove_copies_reverse',
      'public.run_group_member pgparts_remove_copies_reverse',
    ]);

    // After it: the legacy tables hold the copies; the members go by the cascade.
    await deleteDungeon(t, 7, 'cascade');
    const partitioned = await digests(t);
    expect(partitioned.runs.rows).toBe(300);
    const [dungeons] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM dungeon`;
    expect(dungeons?.n).toBe(6);
    // Unswap replays the rest back: the legacy tables hold exactly the rows left.
    await convertUnswap(t.db, target);
    expect(await digests(t)).toEqual(partitioned);
    expect(await removalTriggers(t)).toEqual([
      'public.leaderboard_run pgparts_remove_copies_forward',
      'public.run_group_member pgparts_remove_copies_forward',
    ]);
  });
});

describe("fill's copy and the app's deletes", () => {
  const t = useTestDatabase({ migrated: false });
  it('copies again a batch that read a run the app then deleted with its dungeon', async () => {
    await filledLeaderboard(t, { fill: false });
    const app = await t.sql.reserve();
    let raced = false;
    let watching: Promise<number> = Promise.resolve(Infinity);
    try {
      await convertFill(t.db, target, {
        batchSize: 100,
        onProgress: async (p) => {
          if (raced || p.step !== 'fill' || p.table !== 'leaderboard_run') return;
          raced = true;
          // Dungeon 8's runs, some copied already and most not, go with the dungeon; the app
          // commits once the next batch's copy of one of them waits on the dungeon's row.
          await beginDeletingDungeon(app, 8);
          watching = commitWhenWaitedOn(t, app);
        },
      });
    } finally {
      app.release();
    }
    expect(raced).toBe(true);
    // The copy waited for the app (measured from pg_locks), not the 10 s limit.
    expect(await watching).toBeLessThan(10_000);
    await expectDungeonGoneOnBothSides(t);
  });
});

describe("a conversion and the app's updates of what its rows reference", () => {
  const t = useTestDatabase({ migrated: false });
  const moveRuns = async (from: number, to: number) => {
    await t.sql.begin(async (tx) => {
      await tx`UPDATE leaderboard_run SET dungeon_id = ${to} WHERE dungeon_id = ${from}`;
      await tx`DELETE FROM dungeon WHERE id = ${from}`;
    });
  };
  it('runs moved to another dungeon, then the old dungeon deleted, before and after the swap', async () => {
    await filledLeaderboard(t);
    // Before the swap: the twins' copies of dungeon 8's runs still name it until the next replay.
    await moveRuns(8, 7);
    const legacy = await digests(t);
    expect(legacy.runs.rows).toBe(400);
    await convertSwap(t.db, target);
    expect(await digests(t)).toEqual(legacy);
    // After it: the legacy tables' copies.
    await moveRuns(7, 6);
    const partitioned = await digests(t);
    await convertUnswap(t.db, target);
    expect(await digests(t)).toEqual(partitioned);
    const [left] = await t.sql<{ n: number; moved: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE dungeon_id IN (7, 8))::int AS moved
      FROM leaderboard_run`;
    expect(left).toEqual({ n: 400, moved: 0 });
  });
});

describe("a conversion's copy that cannot take an update yet", () => {
  const t = useTestDatabase({ migrated: false });
  it('an update whose copy would clash with a row the replay has yet to change goes on; the copy is caught up later', async () => {
    await filledLeaderboard(t);
    const [x, y] = await t.sql<{ id: number }[]>`
      (SELECT id FROM leaderboard_run WHERE dungeon_id = 7 AND season_id = 1 ORDER BY id LIMIT 1)
      UNION ALL
      (SELECT id FROM leaderboard_run WHERE dungeon_id = 5 AND season_id = 1 ORDER BY id LIMIT 1)`;
    if (!x || !y) throw new Error('the fixture has no run of dungeon 7 or 5 in season 1');
    // y takes x's natural key but for the dungeon, and the replay brings its copy there.
    await t.sql`UPDATE leaderboard_run y SET period_id = x.period_id,
                  region = x.region, completed_at = x.completed_at, duration_ms = x.duration_ms,
                  keystone_level = x.keystone_level, score = x.score
                FROM leaderboard_run x WHERE x.id = ${x.id} AND y.id = ${y.id}`;
    await convertFill(t.db, target);
    // y moves on (its copy does not: no replay yet); x takes dungeon 5, which its copy cannot
    // take while y's copy holds the old key.
    await t.sql`UPDATE leaderboard_run SET score = score + 1 WHERE id = ${y.id}`;
    await t.sql`UPDATE leaderboard_run SET dungeon_id = 5 WHERE id = ${x.id}`;
    const [copy] = await t.sql<{ dungeon_id: number }[]>`
      SELECT dungeon_id FROM pgparts_leaderboard_new.leaderboard_run WHERE id = ${x.id}`;
    expect(copy?.dungeon_id).toBe(7);
    const legacy = await digests(t);
    await convertSwap(t.db, target);
    expect(await digests(t)).toEqual(legacy);
  });
});

describe("fill's catch-up and the app's deletes", () => {
  const t = useTestDatabase({ migrated: false });
  it('replays again a batch that wrote back a run the app then deleted with its dungeon', async () => {
    await filledLeaderboard(t);
    // An earlier change of dungeon 8's runs, committed: the next replay writes their images back.
    await t.sql`UPDATE leaderboard_run SET rank = 1 WHERE dungeon_id = 8`;
    const app = await t.sql.reserve();
    let watching: Promise<number>;
    try {
      // The app deletes them and the dungeon, and commits once the replay waits on it (for the
      // copies the removal trigger took away): the replay's images then name a dungeon gone.
      await beginDeletingDungeon(app, 8);
      watching = commitWhenWaitedOn(t, app);
      // fill's catch-up alone (a whole fill would first wait on the app to re-make its triggers),
      // in batches of 10: the app's entries come some 50 entries after the first batch's.
      const s = sides(target.family, false);
      await catchUp(t.db, target, await readLayouts(t.db, target, s), 'forward', s, 10);
    } finally {
      app.release();
    }
    expect(await watching).toBeLessThan(10_000);
    await expectDungeonGoneOnBothSides(t);
  });
});
