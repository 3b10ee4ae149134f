import { describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const MEMBERS = [...MEMBER_COLUMNS, 'season_id'];

/**
 * The leaderboard's runs reference dungeons, a table outside the family. The app deletes a
 * dungeon's runs (their members first, or by the cascade after the swap) and then the dungeon,
 * while the other side holds copies of those runs that no replay has caught up yet: before the
 * swap the twins, after it the legacy tables.
 */
async function deleteDungeon(dungeon: number, members: 'first' | 'cascade'): Promise<void> {
  await t.sql.begin(async (tx) => {
    if (members === 'first')
      await tx`DELETE FROM run_group_member WHERE run_guid IN
                 (SELECT run_guid FROM leaderboard_run WHERE dungeon_id = ${dungeon})`;
    await tx`DELETE FROM leaderboard_run WHERE dungeon_id = ${dungeon}`;
    await tx`DELETE FROM dungeon WHERE id = ${dungeon}`;
  });
}

const removalTriggers = async () =>
  (
    await t.sql<{ name: string }[]>`
      SELECT c.relnamespace::regnamespace::text || '.' || c.relname || ' ' || g.tgname AS name
      FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid
      WHERE g.tgname LIKE 'pgparts_remove_copies%' AND g.tgparentid = 0 ORDER BY 1`
  ).map((r) => r.name);

describe("a conversion and the app's deletes of a table its tables reference", () => {
  it('deletes go through before and after the swap, and the copies converge on the rows left', async () => {
    await buildLegacyLeaderboard(t.sql, { runs: 400, seasons: 2 });
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    expect(await removalTriggers()).toEqual([
      'public.leaderboard_run pgparts_remove_copies_forward',
      'public.run_group_member pgparts_remove_copies_forward',
    ]);
    // Before the swap: the twins hold copies of dungeon 8's runs until the next replay.
    await deleteDungeon(8, 'first');
    const legacy = {
      runs: await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS),
      members: await countAndChecksum(t.sql, 'run_group_member', MEMBERS),
    };
    expect(legacy.runs.rows).toBe(350);
    await convertSwap(t.db, target);
    // The swap replayed the rest: the partitioned tables hold what the legacy ones held.
    expect(await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS)).toEqual(legacy.runs);
    expect(await countAndChecksum(t.sql, 'run_group_member', MEMBERS)).toEqual(legacy.members);
    expect(await removalTriggers()).toEqual([
      'public.leaderboard_run pgparts_remove_copies_reverse',
      'public.run_group_member pgparts_remove_copies_reverse',
    ]);

    // After it: the legacy tables hold the copies; the members go by the cascade.
    await deleteDungeon(7, 'cascade');
    const partitioned = {
      runs: await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS),
      members: await countAndChecksum(t.sql, 'run_group_member', MEMBERS),
    };
    expect(partitioned.runs.rows).toBe(300);
    const [dungeons] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM dungeon`;
    expect(dungeons?.n).toBe(6);
    // Unswap replays the rest back: the legacy tables hold exactly the rows left.
    await convertUnswap(t.db, target);
    expect(await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS)).toEqual(partitioned.runs);
    expect(await countAndChecksum(t.sql, 'run_group_member', MEMBERS)).toEqual(partitioned.members);
    expect(await removalTriggers()).toEqual([
      'public.leaderboard_run pgparts_remove_copies_forward',
      'public.run_group_member pgparts_remove_copies_forward',
    ]);
  });
});
