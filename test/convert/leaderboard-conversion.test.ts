import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { refreshTopKeys } from '../../src/domains/leaderboard/views.js';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertVerify,
  formatVerifyReport,
  readConversionState,
  type SwitchResult,
  type VerifyReport,
} from '../../src/ops/convert/index.js';
import { status } from '../../src/plan/status.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from './checksums.js';
import { startWriters, type Writer } from './writers.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const FIXTURE_RUNS = 4_000;

let before: {
  runs: Awaited<ReturnType<typeof countAndChecksum>>;
  members: Awaited<ReturnType<typeof countAndChecksum>>;
};
let writers: Writer[] = [];
let swap: SwitchResult;
let report: VerifyReport;
let idsBeforeSwap = 0;

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: FIXTURE_RUNS, seasons: 3 });
  before = {
    runs: await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS),
    members: await countAndChecksum(t.sql, 'run_group_member', MEMBER_COLUMNS),
  };
  await convertPrep(t.db, target);
  let swapped = false;
  const app = startWriters(
    () => t.connect({ max: 1 }),
    4,
    3,
    () => swapped,
  );
  // Small batches with a pause, so the writers interleave with the copy.
  await convertBackfill(t.db, target, { batchSize: 2_000, throttleMs: 5 });
  await convertFill(t.db, target, { batchSize: 500, throttleMs: 5 });
  await convertFill(t.db, target, { batchSize: 500 }); // catch up again, as an operator would
  idsBeforeSwap = Math.max(...app.writers.flatMap((w) => w.ids));
  swap = await convertSwap(t.db, target);
  swapped = true;
  // Let every writer commit a few more runs on the partitioned tables.
  const target20 = app.writers.map((w) => w.ids.length + 20);
  while (app.writers.some((w, i) => w.ids.length < (target20[i] ?? 0) && w.errors.length === 0)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  writers = await app.stop();
  report = await convertVerify(t.db, target);
}, 240_000);

describe('converting the legacy leaderboard while 4 writers insert, update and delete', () => {
  it('the writers never failed, before, during or after the swap', () => {
    expect(writers.flatMap((w) => w.errors).map(String)).toEqual([]);
    expect(writers.every((w) => [...w.live.values()].some((r) => r.afterSwap))).toBe(true);
    expect(writers.every((w) => [...w.live.values()].some((r) => !r.afterSwap))).toBe(true);
  });

  it('swapped in one short locked transaction and reported its lock hold', async () => {
    expect(swap.attempts).toBeGreaterThanOrEqual(1);
    expect(swap.lockHoldMs).toBeGreaterThan(0);
    const state = await readConversionState(t.db, target.family);
    expect(state?.step).toBe('swapped');
    expect(state?.lockHoldMs).toBeCloseTo(swap.lockHoldMs, 3);
    const kinds = await t.sql`SELECT relname, relkind FROM pg_class
      WHERE relnamespace = 'public'::regnamespace AND relname IN ('leaderboard_run', 'run_group_member') ORDER BY 1`;
    expect(kinds.map((k) => k.relkind)).toEqual(['p', 'p']);
  });

  it('has every row written before or during the conversion exactly once', async () => {
    const dupes =
      await t.sql`SELECT run_guid FROM leaderboard_run GROUP BY run_guid HAVING count(*) > 1`;
    expect(dupes).toHaveLength(0);
    const live = writers.flatMap((w) => [...w.live.values()]);
    const deleted = writers.reduce((n, w) => n + w.deleted, 0);
    expect(deleted).toBeGreaterThan(0);
    const [counts] = await t.sql`SELECT (SELECT count(*) FROM leaderboard_run)::int AS runs,
                                        (SELECT count(*) FROM run_group_member)::int AS members`;
    expect(counts?.runs).toBe(FIXTURE_RUNS + live.length);
    expect(counts?.members).toBe(before.members.rows + 2 * live.length);
    // Every surviving run the app wrote, with its latest score and both members.
    const rows = await t.sql`SELECT r.run_guid::text, r.id::int, r.season_id, r.score,
                                    (SELECT count(*)::int FROM run_group_member m
                                      WHERE m.season_id = r.season_id AND m.run_guid = r.run_guid) AS members
                             FROM leaderboard_run r WHERE r.id > ${FIXTURE_RUNS}`;
    const found = new Map(rows.map((r) => [r.run_guid as string, r]));
    expect(found.size).toBe(live.length);
    for (const run of live) {
      const row = found.get(run.runGuid);
      expect(row, run.runGuid).toBeDefined();
      expect(Number(row?.id)).toBe(run.id);
      expect(row?.score).toBe(run.score);
      expect(row?.members).toBe(2);
    }
  });

  it('kept the rows from before the conversion identical (counts and checksums)', async () => {
    const fixtureRuns = `id <= ${FIXTURE_RUNS}`;
    expect(await countAndChecksum(t.sql, 'leaderboard_run', RUN_COLUMNS, fixtureRuns)).toEqual(
      before.runs,
    );
    const fixtureMembers = `character_name LIKE 'char\\_%'`;
    expect(
      await countAndChecksum(t.sql, 'run_group_member', MEMBER_COLUMNS, fixtureMembers),
    ).toEqual(before.members);
  });

  it('keeps ids increasing with no reuse: the sequence moved past max(id) and belongs to the new column', async () => {
    for (const w of writers) {
      expect([...w.ids].sort((a, b) => a - b)).toEqual(w.ids);
    }
    const all = writers.flatMap((w) => w.ids);
    expect(new Set(all).size).toBe(all.length);
    expect(Math.min(...all)).toBeGreaterThan(FIXTURE_RUNS);
    const afterSwap = writers.flatMap((w) =>
      [...w.live.values()].filter((r) => r.afterSwap).map((r) => r.id),
    );
    expect(Math.min(...afterSwap)).toBeGreaterThan(idsBeforeSwap);
    const [owner] =
      await t.sql`SELECT pg_get_serial_sequence('public.leaderboard_run', 'id') AS seq`;
    expect(owner?.seq).toBe('public.leaderboard_run_id_seq');
    const [{ id } = { id: 0 }] = await t.sql`
      INSERT INTO leaderboard_run (run_guid, season_id, region) VALUES (gen_random_uuid(), 2, 'us') RETURNING id::int`;
    expect(id).toBeGreaterThan(Math.max(...all));
  });

  it('rebuilt the views on the partitioned tables; the materialized views see rows inserted after the swap', async () => {
    const reads = await t.sql`
      SELECT DISTINCT v.relname AS view, t.relkind AS kind, tn.nspname AS schema
      FROM pg_class v JOIN pg_rewrite r ON r.ev_class = v.oid
      JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
      JOIN pg_class t ON t.oid = d.refobjid AND t.relname IN ('leaderboard_run', 'run_group_member')
      JOIN pg_namespace tn ON tn.oid = t.relnamespace
      WHERE v.relnamespace = 'public'::regnamespace ORDER BY 1`;
    expect(reads.map((r) => r.view)).toEqual([
      'run_with_members',
      'top_keys_global',
      'top_keys_per_dungeon',
      'top_keys_per_group',
      'top_keys_per_period',
    ]);
    expect(reads.every((r) => r.kind === 'p' && r.schema === 'public')).toBe(true);
    // A post-swap run with the highest key of all must top season 1 after a refresh.
    const [row] = await t.sql`
      INSERT INTO leaderboard_run (run_guid, season_id, period_id, dungeon_id, region, keystone_level, score)
      VALUES (gen_random_uuid(), 1, 1, 1, 'us', 99, 9999) RETURNING id::int`;
    await refreshTopKeys(t.db);
    const [top] =
      await t.sql`SELECT run_id::int FROM top_keys_global WHERE season_id = 1 AND position = 1`;
    expect(top?.run_id).toBe(row?.id);
    const [summary] = await t.sql`SELECT sum(runs)::int AS runs FROM season_summary`;
    const [count] = await t.sql`SELECT count(*)::int AS n FROM leaderboard_run`;
    expect(summary?.runs).toBe(count?.n);
  });

  it('verify passes: counts and checksums per season, and sampled rows, agree', () => {
    expect(report.ok, formatVerifyReport(report)).toBe(true);
    expect(report.tables.map((x) => [x.table, x.groups])).toEqual([
      ['leaderboard_run', 3],
      ['run_group_member', 3],
    ]);
    expect(report.tables.every((x) => x.sampled > 0)).toBe(true);
  });

  it('status then says the conversion waits for cleanup, no longer for verify', async () => {
    const family = target.family;
    const attention = status([family], await inspect(t.db, [family])).attention.join('\n');
    expect(attention).toMatch(
      /family leaderboard: a conversion paused after its verify step \(started .*\); next: cleanup \(or unswap to go back\)/,
    );
  });

  it('cleanup drops the parked legacy tables and views, and nothing else', async () => {
    const result = await convertCleanup(t.db, target);
    expect(result.dropped).toEqual([
      'pgparts_leaderboard_old.leaderboard_run',
      'pgparts_leaderboard_old.run_group_member',
    ]);
    const schemas =
      await t.sql`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgparts_leaderboard%'`;
    expect(schemas).toHaveLength(0);
    const [counts] = await t.sql`SELECT (SELECT count(*) FROM leaderboard_run)::int AS runs,
                                        (SELECT count(*) FROM top_keys_global)::int AS top`;
    expect(counts?.runs).toBeGreaterThan(FIXTURE_RUNS);
    expect(counts?.top).toBeGreaterThan(0);
    const triggers = await t.sql`SELECT tgname FROM pg_trigger WHERE tgname LIKE 'pgparts_%'`;
    expect(triggers).toHaveLength(0);
  });
});
