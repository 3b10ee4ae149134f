import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import { convertBackfill, convertFill, convertPrep } from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');

const twin = (table: string) => `pgparts_leaderboard_new.${table}`;
const bothSides = async (table: string, columns: readonly string[]) => ({
  legacy: await countAndChecksum(t.sql, `public.${table}`, columns),
  twin: await countAndChecksum(t.sql, twin(table), columns),
});

let logged = 0;
let replayed = 0;

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 300, seasons: 3 });
  await convertPrep(t.db, target);
  await convertBackfill(t.db, target);
  await convertFill(t.db, target);
  // Several changes of the same keys, in separate transactions (the app's order), before any
  // replay: the replay must end with each key's last state, whatever batch each change lands in.
  await t.sql`UPDATE leaderboard_run SET score = 1 WHERE id = 10`;
  await t.sql`UPDATE leaderboard_run SET score = 2 WHERE id = 10`;
  await t.sql`UPDATE leaderboard_run SET score = 3, rank = 7 WHERE id = 10`;
  // A member removed and added again under the same key: it must be there, as added.
  const [m] = await t.sql`SELECT run_guid, character_name FROM run_group_member
                          WHERE run_guid = (SELECT run_guid FROM leaderboard_run WHERE id = 11)
                          ORDER BY character_name LIMIT 1`;
  await t.sql`DELETE FROM run_group_member WHERE run_guid = ${m?.run_guid} AND character_name = ${m?.character_name}`;
  await t.sql`INSERT INTO run_group_member (run_guid, character_name, class_id, spec_id, role)
              VALUES (${m?.run_guid}, ${m?.character_name}, 9, 9, 'again')`;
  // A key renamed: the old key goes, the new one comes.
  await t.sql`UPDATE run_group_member SET character_name = 'renamed'
              WHERE (run_guid, character_name) = (SELECT run_guid, character_name FROM run_group_member
                WHERE run_guid = (SELECT run_guid FROM leaderboard_run WHERE id = 12)
                ORDER BY character_name LIMIT 1)`;
  // A run with members that is born and removed between two replays: it must never appear.
  await t.sql.begin(async (tx) => {
    await tx`INSERT INTO leaderboard_run (id, run_guid, region, season_id, completed_at, score)
             VALUES (100000, '00000000-0000-4000-8000-000000000001', 'eu', 1, '2025-01-01', 1)`;
    await tx`INSERT INTO run_group_member (run_guid, character_name, role)
             VALUES ('00000000-0000-4000-8000-000000000001', 'x', 'tank')`;
  });
  await t.sql`UPDATE leaderboard_run SET score = 5 WHERE id = 100000`;
  await t.sql`DELETE FROM run_group_member WHERE run_guid = '00000000-0000-4000-8000-000000000001'`;
  await t.sql`DELETE FROM leaderboard_run WHERE id = 100000`;
  // An existing run and its members deleted.
  await t.sql`DELETE FROM run_group_member WHERE run_guid = (SELECT run_guid FROM leaderboard_run WHERE id = 20)`;
  await t.sql`DELETE FROM leaderboard_run WHERE id = 20`;
  const [n] = await t.sql`SELECT count(*)::int AS n FROM pgparts_convert.changes`;
  // (runs 11 and 12 keep their members: run 20 and its members go)
  logged = n?.n ?? 0;
  // Batches of 3: the changes of one key fall into different batches.
  replayed = (await convertFill(t.db, target, { batchSize: 3 })).changesReplayed;
}, 120_000);

describe('the replay applies the last change of each key, on the server', () => {
  it('takes every logged change off the log', async () => {
    expect(logged).toBeGreaterThan(10);
    expect(replayed).toBe(logged);
    const [n] = await t.sql`SELECT count(*)::int AS n FROM pgparts_convert.changes`;
    expect(n?.n).toBe(0);
  });

  it('leaves the twins equal to the legacy tables: counts and checksums', async () => {
    const runs = await bothSides('leaderboard_run', RUN_COLUMNS);
    expect(runs.twin).toEqual(runs.legacy);
    const members = await bothSides('run_group_member', MEMBER_COLUMNS);
    expect(members.twin).toEqual(members.legacy);
  });

  it('ends each key in its last state', async () => {
    const [run] = await t.sql.unsafe(
      `SELECT score, rank FROM ${twin('leaderboard_run')} WHERE id = 10`,
    );
    expect(run).toEqual({ score: 3, rank: 7 });
    const gone = await t.sql.unsafe(
      `SELECT id FROM ${twin('leaderboard_run')} WHERE id IN (20, 100000)`,
    );
    expect(gone).toEqual([]);
    const [again] = await t.sql.unsafe(
      `SELECT count(*)::int AS n FROM ${twin('run_group_member')} WHERE role = 'again' AND class_id = 9`,
    );
    expect(again?.n).toBe(1);
    const [renamed] = await t.sql.unsafe(
      `SELECT count(*)::int AS n FROM ${twin('run_group_member')} WHERE character_name = 'renamed'`,
    );
    expect(renamed?.n).toBe(1);
  });

  it('shows the replay statement in the dry run: built before it runs, values as parameters', async () => {
    const plan = await convertFill(t.db, target, { dryRun: true });
    expect(plan.sql).toContain('DELETE FROM "pgparts_convert"."changes"');
    expect(plan.sql).toContain('ON CONFLICT ("season_id", "run_guid", "character_name") DO UPDATE');
    expect(plan.sql).toMatch(/LIMIT \$5::int/);
    const replay = plan.sql.slice(plan.sql.indexOf('WITH taken AS'));
    expect(replay).toContain('c.table_name = $6::text');
    expect(replay).not.toContain("'leaderboard_run'");
  });
});
