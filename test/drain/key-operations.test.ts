import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey } from '../../src/ops/retention.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';
import {
  digests,
  insertRuns,
  rowsByPartition,
  setupSeasons,
  writeOneRun,
} from './leaderboard-fixture.js';

const t = useTestDatabase();
const family = leaderboardFamily;
const list = (value: number) => ({ kind: 'list', value }) as const;

/** Tables pgparts's bookkeeping or a drain may have left: anything but the app's own. */
async function drainLeftovers(): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relispartition
      AND (c.relname LIKE 'leaderboard_run\\_%' OR c.relname LIKE 'run_group_member\\_%')
    UNION ALL
    SELECT tgname || ' on ' || tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'pgparts_capture'
    ORDER BY 1`;
  return rows.map((r) => r.name);
}

async function partitionsOf(table: string): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${table}::regclass ORDER BY 1`;
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  await setupSeasons(t.sql); // seasons 12, 13, 14; 13 has partitions
  await t.sql`INSERT INTO season (id, name) VALUES (2, 'S2'), (3, 'S3')`;
  for (const season of [2, 3]) await insertRuns(t.sql, season, 300, season * 10_000);
});

describe('one operation per key', () => {
  it('refuses a retire while a drain of the key runs, and the drain then finishes whole', async () => {
    const before = await digests(t.sql);
    let refusal: unknown;
    let stagingRole: string | undefined;
    const result = await drainKey(t.db, family, list(2), {
      strategy: 'delete',
      onPhase: async (phase) => {
        if (phase !== 'copied') return;
        // Another connection, as `pgparts retire leaderboard_run 2 --yes` would be.
        const other = t.connect({ max: 2 });
        const { drizzle } = await import('drizzle-orm/postgres-js');
        refusal = await retireKey(drizzle(other), family, list(2)).catch((e: unknown) => e);
        const [owned] = await t.sql<{ role: string }[]>`
          SELECT role FROM pgparts_owned_tables WHERE relid = 'leaderboard_run_s2'::regclass`;
        stagingRole = owned?.role;
      },
    });
    expect(refusal).toMatchObject({ name: 'PgpartsError', code: 'busy' });
    expect(stagingRole).toBe('staging');
    expect(result).toMatchObject({ status: 'drained', rowsMoved: 1800 });
    expect(await digests(t.sql)).toEqual(before);
    const parts = await rowsByPartition(t.sql);
    expect(parts.leaderboard_run_s2).toBe(300);
    expect(parts.run_group_member_s2).toBe(1500);
    expect(await drainLeftovers()).toEqual([]);
    const [owned] = await t.sql<{ role: string }[]>`
      SELECT role FROM pgparts_owned_tables WHERE relid = 'leaderboard_run_s2'::regclass`;
    expect(owned?.role).toBe('partition');
    expect(await t.sql`SELECT * FROM pgparts_operations`).toHaveLength(0);
  });

  it('an interrupted drain: retire refused, status --check fails on it, the next apply finishes it', async () => {
    const crash = new Error('simulated crash after the copy');
    await expect(
      drainKey(t.db, family, list(3), {
        strategy: 'delete',
        onPhase: (phase) => {
          if (phase === 'copied') throw crash;
        },
      }),
    ).rejects.toBe(crash);
    // Writers go on meanwhile: the capture trigger logs them.
    for (let i = 0; i < 3; i++) await writeOneRun(t.sql, 3);
    const before = await digests(t.sql);

    const refusal = await retireKey(t.db, family, list(3)).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: 'busy' });
    expect((refusal as Error).message).toMatch(/unfinished drain of key 3/);
    expect(await digests(t.sql)).toEqual(before);

    const snapshot = await inspect(t.db, [family]);
    const unfinished = snapshot.families[0]?.unfinished;
    expect(unfinished?.operations).toMatchObject([
      { key: '3', operation: 'drain', phase: 'copied', running: false },
    ]);
    expect(unfinished?.drainTables).toEqual([
      { name: 'leaderboard_run_s3', role: 'staging' },
      { name: 'run_group_member_s3', role: 'staging' },
    ]);
    expect(unfinished?.captureTriggers).toEqual([
      'leaderboard_run_default',
      'run_group_member_default',
    ]);
    expect(unfinished?.changeLogRows).toBeGreaterThanOrEqual(3 * 6);
    const report = status([family], snapshot);
    expect(report.attention.join('\n')).toMatch(/interrupted drain of 3 \(phase copied/);
    // The planner resumes the drain rather than creating anything for key 3.
    const result = await apply(t.db, { families: [family] });
    expect(result.ok).toBe(true);
    expect(result.results.map((r) => [r.step.kind, r.step.label, r.outcome])).toContainEqual([
      'drain',
      '3',
      'done',
    ]);
    expect(await digests(t.sql)).toEqual(before);
    expect((await rowsByPartition(t.sql)).leaderboard_run_s3).toBe(303);
    expect(await drainLeftovers()).toEqual([]);
    const after = status([family], await inspect(t.db, [family]));
    expect(after.attention.filter((a) => /interrupted|capture/.test(a))).toEqual([]);
  });
});

describe('apply while another session works on a key', () => {
  it('leaves the key to it: the step is skipped, not failed, and the next run does it', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (4, 'S4')`;
    await insertRuns(t.sql, 4, 40, 40_000);
    const before = await digests(t.sql);
    // What `pgparts drain leaderboard_run 4` holds while it runs: the key's lock.
    const holder = t.connect({ max: 1 });
    const [held] = await holder<{ ok: boolean }[]>`
      SELECT pg_try_advisory_lock(hashtext('pgparts:key:public.leaderboard'), hashtext('4')) AS ok`;
    expect(held?.ok).toBe(true);
    try {
      const result = await apply(t.db, { families: [family] });
      const drain = result.results.find((r) => r.step.kind === 'drain' && r.step.label === '4');
      expect(drain).toMatchObject({ outcome: 'skipped' });
      expect(drain?.message).toMatch(/another pgparts operation is working on this key right now/);
      expect(result).toMatchObject({ ok: true, failed: 0 });
    } finally {
      await holder.end();
    }
    const next = await apply(t.db, { families: [family] });
    expect(next.results.map((r) => [r.step.kind, r.step.label, r.outcome])).toContainEqual([
      'drain',
      '4',
      'done',
    ]);
    expect(await digests(t.sql)).toEqual(before);
    expect((await rowsByPartition(t.sql)).leaderboard_run_s4).toBe(40);
  });
});

describe('apply while a drain of another key of the family runs', () => {
  it("skips the family's other drains (not failed): the run is ok, the next run does them", async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (8, 'S8'), (9, 'S9')`;
    for (const season of [8, 9]) await insertRuns(t.sql, season, 30, season * 10_000);
    const before = await digests(t.sql);
    let during: Awaited<ReturnType<typeof apply>> | undefined;
    // `pgparts drain leaderboard_run 8` runs; cron's apply starts meanwhile, on its own connection.
    const drained = await drainKey(t.db, family, list(8), {
      onPhase: async (phase) => {
        if (phase !== 'prepared') return;
        const other = t.connect({ max: 2 });
        const { drizzle } = await import('drizzle-orm/postgres-js');
        try {
          during = await apply(drizzle(other), { families: [family] });
        } finally {
          await other.end();
        }
      },
    });
    expect(drained).toMatchObject({ status: 'drained' });
    const drain = during?.results.find((r) => r.step.kind === 'drain' && r.step.label === '9');
    expect(drain).toMatchObject({ outcome: 'skipped' });
    expect(drain?.message).toMatch(/a drain of key 8 is running on this family/);
    expect(during).toMatchObject({ ok: true, failed: 0 });
    const [recorded] = await t.sql<{ outcome: string }[]>`
      SELECT outcome FROM pgparts_maintenance_runs ORDER BY id DESC LIMIT 1`;
    expect(recorded?.outcome).toBe('ok');
    const next = await apply(t.db, { families: [family] });
    expect(next.results.map((r) => [r.step.kind, r.step.label, r.outcome])).toContainEqual([
      'drain',
      '9',
      'done',
    ]);
    expect(await digests(t.sql)).toEqual(before);
    const parts = await rowsByPartition(t.sql);
    expect([parts.leaderboard_run_s8, parts.leaderboard_run_s9]).toEqual([30, 30]);
  });
});

describe('keys are checked before any change', () => {
  it.each([
    ['out of the integer column', 99_999_999_999],
    ['negative, never declared', -1],
    ['no season row and nothing in DEFAULT', 7],
    ['no season row and nothing in DEFAULT', 99],
  ])('drain %s (%d): invalid-input, nothing created', async (_why, value) => {
    const before = await digests(t.sql);
    const parts = await partitionsOf('leaderboard_run');
    await expect(drainKey(t.db, family, list(value))).rejects.toMatchObject({
      code: 'invalid-input',
    });
    expect(await drainLeftovers()).toEqual([]);
    expect(await partitionsOf('leaderboard_run')).toEqual(parts);
    expect(await digests(t.sql)).toEqual(before);
  });

  it('retire refuses a value the spec lists unless forced', async () => {
    const listed = { ...family, partitionBy: { ...family.partitionBy, values: [13] } };
    await expect(retireKey(t.db, listed, list(13))).rejects.toMatchObject({ code: 'refused' });
    expect(await partitionsOf('leaderboard_run')).toContain('leaderboard_run_s13');
  });
});

describe('retire proves it can finish before it starts', () => {
  it('refuses a key whose runs partition was made by hand under another name (lb_season5)', async () => {
    await t.sql.unsafe('CREATE TABLE lb_season5 PARTITION OF leaderboard_run FOR VALUES IN (5)');
    await t.sql.unsafe(`COMMENT ON TABLE lb_season5 IS 'pgparts:managed'`);
    await t.sql`INSERT INTO season (id, name) VALUES (5, 'S5')`;
    await apply(t.db, { families: [family] }); // gives run_group_member its season 5 partition
    expect(await partitionsOf('run_group_member')).toContain('run_group_member_s5');
    await insertRuns(t.sql, 5, 20, 500_000);
    const before = await digests(t.sql);
    const refusal = await retireKey(t.db, family, list(5)).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ code: 'refused' });
    expect((refusal as Error).message).toMatch(/lb_season5 holds 5/);
    expect(await partitionsOf('leaderboard_run')).toContain('lb_season5');
    expect(await partitionsOf('run_group_member')).toContain('run_group_member_s5');
    expect(await digests(t.sql)).toEqual(before);
    const [retired] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_retired_keys WHERE key = '5'`.catch(() => [{ n: 0 }]);
    expect(retired?.n ?? 0).toBe(0);
  });
});
