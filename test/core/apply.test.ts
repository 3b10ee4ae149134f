import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { ensureSeasonPartitions } from '../../src/domains/leaderboard/seasons.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { plan } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { maintain } from '../../src/run/maintain.js';
import { rowsOf } from '../../src/run/rows.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

async function partitionsOf(parent: string): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${parent}::regclass ORDER BY 1`;
  return rows.map((r) => r.name);
}

const monthName = (table: string, d: Date) =>
  `${table}_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;

describe('apply on a fresh migrated database', () => {
  it('creates partitions for seasons 1-3 in both leaderboard tables, and the killmail window', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1'), (2, 'S2'), (3, 'S3 (announced)')`;
    const result = await maintain(t.db, { families: builtInFamilies });
    expect(result.status).toBe('applied');
    expect(result.ok).toBe(true);
    expect(result.failed).toBe(0);

    // Referenced table first, for each season.
    const leaderboardSteps = result.results.filter((r) => r.step.family === 'leaderboard');
    expect(leaderboardSteps.map((r) => `${r.step.kind} ${r.step.partitions.join()}`)).toEqual([
      'create leaderboard_run_s1',
      'create run_group_member_s1',
      'create leaderboard_run_s2',
      'create run_group_member_s2',
      'create leaderboard_run_s3',
      'create run_group_member_s3',
    ]);
    expect(leaderboardSteps.every((r) => r.outcome === 'done')).toBe(true);
    expect(await partitionsOf('leaderboard_run')).toEqual([
      'leaderboard_run_default',
      'leaderboard_run_s1',
      'leaderboard_run_s2',
      'leaderboard_run_s3',
    ]);
    expect(await partitionsOf('run_group_member')).toEqual([
      'run_group_member_default',
      'run_group_member_s1',
      'run_group_member_s2',
      'run_group_member_s3',
    ]);
    // Each created partition carries the marker.
    const comments = await t.sql<{ c: string }[]>`
      SELECT obj_description('leaderboard_run_s3'::regclass, 'pg_class') AS c`;
    expect(comments[0]?.c).toBe('pgparts:managed');

    // The killmail family covers the current month and the 3 premade ahead, in all three tables.
    const current = intervalStart('month', new Date());
    for (const table of killmailFamily.tables) {
      const names = await partitionsOf(table);
      for (let i = 0; i <= 3; i += 1) {
        expect(names).toContain(monthName(table, addIntervals('month', current, i)));
      }
    }
  });

  it('leaves nothing to do: a second plan is empty and a second apply runs no step', async () => {
    const snapshot = await inspect(t.db, builtInFamilies);
    expect(plan(builtInFamilies, snapshot, snapshot.takenAt).steps).toEqual([]);
    const again = await maintain(t.db, { families: builtInFamilies });
    expect(again.status).toBe('applied');
    expect(again.results).toEqual([]);
  });

  it('rolls the killmail window forward, referenced table first, with bounds at UTC midnight', async () => {
    const later = addIntervals('month', intervalStart('month', new Date()), 2);
    const result = await apply(t.db, { families: [killmailFamily], now: later });
    const created = result.results
      .filter((r) => r.step.kind === 'create')
      .map((r) => r.step.partitions[0]);
    const expected = [4, 5].flatMap((ahead) =>
      killmailFamily.tables.map((table) =>
        monthName(table, addIntervals('month', intervalStart('month', new Date()), ahead)),
      ),
    );
    expect(created).toEqual(expected);
    // Two months later the two oldest months fall out of retention (keep 12): planned, but
    // destructive, so skipped without allowDestructive; referencing tables come first.
    const retire = result.results.filter((r) => r.step.kind === 'retire');
    expect(retire.map((r) => [r.step.partitions, r.outcome, r.message])).toEqual(
      [-12, -11].map((back) => {
        const month = addIntervals('month', intervalStart('month', new Date()), back);
        return [
          [...killmailFamily.tables].reverse().map((table) => monthName(table, month)),
          'skipped',
          'destructive: needs --yes (allowDestructive) to run',
        ];
      }),
    );
    const utc = t.connect({ max: 1, connection: { TimeZone: 'UTC' } });
    const [bound] = await utc<{ b: string }[]>`
      SELECT pg_get_expr(relpartbound, oid) AS b FROM pg_class WHERE relname = ${expected[0] ?? ''}`;
    const from = addIntervals('month', intervalStart('month', new Date()), 4);
    const to = addIntervals('month', from, 1);
    const iso = (d: Date) => `${d.toISOString().slice(0, 10)} 00:00:00+00`;
    expect(bound?.b).toBe(`FOR VALUES FROM ('${iso(from)}') TO ('${iso(to)}')`);
    const snapshot = await inspect(t.db, [killmailFamily]);
    expect(plan([killmailFamily], snapshot, later).steps.map((s) => s.kind)).toEqual([
      'retire',
      'retire',
    ]);
  });

  it('ensureSeasonPartitions gives a newly announced season its partitions', async () => {
    await t.db.execute(sql`INSERT INTO season (id, name) VALUES (4, 'S4')`);
    const result = await ensureSeasonPartitions(t.db);
    expect(result.results.map((r) => [r.step.partitions[0], r.outcome])).toEqual([
      ['leaderboard_run_s4', 'done'],
      ['run_group_member_s4', 'done'],
    ]);
    const snapshot = await inspect(t.db, [leaderboardFamily]);
    expect(plan([leaderboardFamily], snapshot, snapshot.takenAt).steps).toEqual([]);
  });

  it('runs drain steps through an executor when one is given: pinned, retried, with progress', async () => {
    await t.db.execute(sql`INSERT INTO season (id, name) VALUES (50, 'S50')`);
    await t.db.execute(
      sql`INSERT INTO leaderboard_run (run_guid, season_id) VALUES (gen_random_uuid(), 50)`,
    );
    const seen: { pid: number; family: string; tables: string[] }[] = [];
    const progress: string[] = [];
    const result = await apply(t.db, {
      families: [leaderboardFamily],
      backoffMs: 10,
      executors: {
        drain: async (step, ctx) => {
          const [row] = rowsOf<{ pid: number }>(
            await ctx.db.execute(sql`SELECT pg_backend_pid() AS pid`),
          );
          seen.push({ pid: Number(row?.pid), family: ctx.family.name, tables: step.tables });
          if (seen.length === 1) {
            throw Object.assign(new Error('canceling statement due to lock timeout'), {
              code: '55P03',
            });
          }
          ctx.progress(1, 1, 'rows');
          return 'moved 1 row';
        },
      },
      onProgress: (event) => {
        if (event.type === 'step-progress')
          progress.push(`${event.done}/${event.total} ${event.unit}`);
      },
    });
    const drain = result.results.find((r) => r.step.kind === 'drain');
    expect(drain).toMatchObject({
      outcome: 'done',
      attempts: 2,
      lockTimeouts: 1,
      message: 'moved 1 row',
    });
    expect(drain?.step.label).toBe('50');
    // The executor ran on the connection that holds the maintenance lock.
    expect(seen.map((s) => s.pid)).toEqual([result.lockHolderPid, result.lockHolderPid]);
    expect(seen[0]).toMatchObject({
      family: 'leaderboard',
      tables: ['leaderboard_run', 'run_group_member'],
    });
    expect(progress).toEqual(['1/1 rows']);
  });

  it('warns, in the result it returns, when the maintenance lock was gone at the end of the run', async () => {
    await t.db.execute(sql`INSERT INTO season (id, name) VALUES (51, 'S51')`);
    await t.db.execute(
      sql`INSERT INTO leaderboard_run (run_guid, season_id) VALUES (gen_random_uuid(), 51)`,
    );
    const client = t.connect({ max: 1 });
    const result = await apply(drizzle(client), {
      families: [leaderboardFamily],
      executors: {
        // Something on the run's connection lets go of every advisory lock it holds.
        drain: async (_step, ctx) => {
          await ctx.db.execute(sql`SELECT pg_advisory_unlock_all()`);
          return 'released the locks';
        },
      },
    });
    expect(result.status).toBe('applied');
    expect(result.warnings).toEqual([
      `the maintenance lock was not held by this connection at the end (pid ${result.lockHolderPid})`,
    ]);
    // The connection went back with its settings restored: lock_timeout as the server has it.
    const [after] = await client<{ lt: string }[]>`SELECT current_setting('lock_timeout') AS lt`;
    expect(after?.lt).toBe('0');
  });

  it('inspects and applies an empty list of families without touching anything', async () => {
    const snapshot = await inspect(t.db, []);
    expect(snapshot.families).toEqual([]);
    const result = await apply(t.db, { families: [] });
    expect(result).toMatchObject({ status: 'applied', ok: true, results: [] });
  });
});
