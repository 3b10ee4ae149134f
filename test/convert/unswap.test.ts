import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
  convertVerify,
  formatVerifyReport,
  readConversionState,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const MEMBERS = [...MEMBER_COLUMNS, 'season_id'];

let partitioned: {
  runs: { rows: number; checksum: string };
  members: { rows: number; checksum: string };
};
const newGuids: string[] = [];
let topRunId = 0;

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 1_500, seasons: 3 });
  await convertPrep(t.db, target);
  await convertBackfill(t.db, target);
  await convertFill(t.db, target);
  await convertSwap(t.db, target);
  // The app after the swap, on its own connection: inserts, an update, a delete (cascading).
  const app = t.connect({ max: 1 });
  for (let i = 0; i < 3; i++) {
    const [row] = await app`
      INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, keystone_level, score)
      VALUES (gen_random_uuid(), 'us', 1, 1, 1, ${i === 0 ? 99 : 10}, 5000) RETURNING id::int, run_guid::text`;
    newGuids.push(String(row?.run_guid));
    if (i === 0) topRunId = Number(row?.id);
    await app`INSERT INTO run_group_member (season_id, run_guid, character_name, role)
              VALUES (1, ${String(row?.run_guid)}, ${`after_swap_${i}`}, 'dps')`;
  }
  await app`UPDATE leaderboard_run SET score = 4242 WHERE id = 5`;
  await app`DELETE FROM leaderboard_run WHERE id = 6`; // its members go by ON DELETE CASCADE
  partitioned = {
    runs: await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS),
    members: await countAndChecksum(t.sql, 'run_group_member', MEMBERS),
  };
  await convertUnswap(t.db, target);
});

describe('unswap after a swap', () => {
  it('puts the legacy tables back with every row, including those written after the swap', async () => {
    const kinds = await t.sql`SELECT relname, relkind FROM pg_class
      WHERE relnamespace = 'public'::regnamespace AND relname IN ('leaderboard_run', 'run_group_member') ORDER BY 1`;
    expect(kinds.map((k) => k.relkind)).toEqual(['r', 'r']);
    expect(partitioned.runs.rows).toBe(1_500 + 3 - 1);
    expect(await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS)).toEqual(partitioned.runs);
    expect(await countAndChecksum(t.sql, 'run_group_member', MEMBERS)).toEqual(partitioned.members);
    const [gone] = await t.sql`SELECT count(*)::int AS n FROM run_group_member m
      WHERE NOT EXISTS (SELECT 1 FROM leaderboard_run r WHERE r.run_guid = m.run_guid)`;
    expect(gone?.n).toBe(0);
    expect((await readConversionState(t.db, target.family))?.step).toBe('filled');
  });

  it('the legacy app queries still work: lookups by run_guid, joins, inserts without season_id', async () => {
    const [found] = await t.sql`SELECT r.id::int, count(m.*)::int AS members FROM leaderboard_run r
      JOIN run_group_member m ON m.run_guid = r.run_guid WHERE r.run_guid = ${newGuids[1] ?? ''} GROUP BY r.id`;
    expect(found?.members).toBe(1);
    const [score] = await t.sql`SELECT score FROM leaderboard_run WHERE id = 5`;
    expect(score?.score).toBe(4242);
    const [inserted] = await t.sql`
      INSERT INTO leaderboard_run (run_guid, region, season_id) VALUES (gen_random_uuid(), 'eu', 2)
      RETURNING id::int, run_guid::text`;
    expect(inserted?.id).toBeGreaterThan(topRunId); // the sequence went with the table
    // The legacy app does not know season_id: the derive trigger fills it.
    await t.sql`INSERT INTO run_group_member (run_guid, character_name) VALUES (${String(inserted?.run_guid)}, 'legacy_app')`;
    const [member] =
      await t.sql`SELECT season_id FROM run_group_member WHERE character_name = 'legacy_app'`;
    expect(member?.season_id).toBe(2);
    // The legacy keys are in force again: run_guid is globally unique.
    await expect(
      t.sql`INSERT INTO leaderboard_run (run_guid, season_id) VALUES (${String(inserted?.run_guid)}, 3)`,
    ).rejects.toThrow(/leaderboard_run_run_guid_key/);
  });

  it('the legacy views are back, read the legacy tables and include the post-swap rows', async () => {
    const reads = await t.sql`
      SELECT DISTINCT v.relname AS view, t.relkind AS kind FROM pg_class v JOIN pg_rewrite r ON r.ev_class = v.oid
      JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
      JOIN pg_class t ON t.oid = d.refobjid AND t.relname = 'leaderboard_run'
      WHERE v.relnamespace = 'public'::regnamespace ORDER BY 1`;
    expect(reads.map((r) => [r.view, r.kind])).toEqual([
      ['run_with_members', 'r'],
      ['top_keys_global', 'r'],
      ['top_keys_per_dungeon', 'r'],
      ['top_keys_per_group', 'r'],
      ['top_keys_per_period', 'r'],
    ]);
    const [top] =
      await t.sql`SELECT run_id::int FROM top_keys_global WHERE season_id = 1 AND position = 1`;
    expect(top?.run_id).toBe(topRunId);
    const [summary] = await t.sql`SELECT sum(runs)::int AS runs FROM season_summary`;
    const [count] = await t.sql`SELECT count(*)::int AS n FROM leaderboard_run`;
    expect(summary?.runs).toBe(count?.n);
  });

  it('can swap again later: the twins were kept in step by the forward log', async () => {
    await convertFill(t.db, target);
    const swap = await convertSwap(t.db, target);
    expect(swap.replayedUnderLock).toBeGreaterThanOrEqual(0);
    const report = await convertVerify(t.db, target);
    expect(report.ok, formatVerifyReport(report)).toBe(true);
    const [row] =
      await t.sql`SELECT season_id FROM run_group_member WHERE character_name = 'legacy_app'`;
    expect(row?.season_id).toBe(2);
  });
});
