import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgparts, pgpartsProcess } from '../cli/run-cli.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from '../convert/checksums.js';
import {
  type CrashableServer,
  crashWhen,
  startCrashableServer,
} from '../support/crashable-server.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';

/**
 * The conversion survives its server being killed (SIGKILL of the postmaster) in each phase:
 * during the fill's copy, while the swap waits for its lock, and during the REFRESH after the
 * swap's commit. Each time: the killed command exits non-zero, the server restarts (crash
 * recovery), the rerun finishes, and the rows are the ones written before: counts and
 * checksums equal, 0 rows lost or duplicated.
 */
let server: CrashableServer;
let sql: postgres.Sql;
const quiet = { onnotice: () => {} };
let before: { runs: unknown; members: unknown };

const connect = () => {
  sql = postgres(server.url(), { max: 3, ...quiet });
  return sql;
};

async function digests(runs: string, members: string) {
  return {
    runs: await countAndChecksum(sql, runs, RUN_COLUMNS),
    members: await countAndChecksum(sql, members, MEMBER_COLUMNS),
  };
}

/** Kills the server under a running command once `when` returns a row; restarts it. */
async function crashDuring(run: Promise<{ code: number | null; stderr: string }>, when: string) {
  const killed = await crashWhen(server, run, when, () => sql.end({ timeout: 1 }));
  connect();
  return killed;
}

beforeAll(async () => {
  server = await startCrashableServer('crash-convert');
  connect();
  // 5 members a run: 25,000 member rows, 50 batches of 500 for the throttled fill below.
  await buildLegacyLeaderboard(sql, { runs: 5_000, seasons: 3 });
  // A materialized view whose refresh takes 2 s (the sleep runs once per refresh).
  await sql.unsafe(`CREATE MATERIALIZED VIEW slow_totals AS
    SELECT season_id, count(*)::int AS runs, (SELECT 1 FROM pg_sleep(2)) AS slept
    FROM leaderboard_run GROUP BY season_id`);
  for (const step of ['prep', 'backfill']) {
    const r = await pgparts(server.url(), 'convert', 'leaderboard', step);
    expect(r.code, r.stderr).toBe(0);
  }
  before = await digests('public.leaderboard_run', 'public.run_group_member');
  // Crash recovery then replays what the commands under test wrote, not this load.
  await sql`CHECKPOINT`;
}, 240_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 }).catch(() => {});
  await server?.stop();
}, 60_000);

describe('the server is killed during a conversion', () => {
  it('during the fill: non-zero exit; the rerun resumes, twins equal the legacy tables', async () => {
    const fill = pgpartsProcess(
      server.url(),
      'convert',
      'leaderboard',
      'fill',
      '--batch-size',
      '500',
      '--throttle',
      '50',
    );
    const killed = await crashDuring(
      fill,
      `SELECT 1 FROM pgparts_convert.conversion WHERE (progress->'fill.run_group_member'->>'copied')::int > 0`,
    );
    expect(killed.code).not.toBe(0);
    // Progress lines, then one line saying what failed; no stack trace.
    expect(killed.stderr.trim().split('\n').at(-1)).toMatch(/^pgparts: /);
    expect(killed.stderr).not.toMatch(/\n\s+at /);
    const [state] = await sql`SELECT step FROM pgparts_convert.conversion`;
    expect(state?.step).toBe('backfilled'); // the fill had not finished
    const rerun = await pgparts(server.url(), 'convert', 'leaderboard', 'fill');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(
      await digests(
        'pgparts_leaderboard_new.leaderboard_run',
        'pgparts_leaderboard_new.run_group_member',
      ),
    ).toEqual(before);
    expect(await digests('public.leaderboard_run', 'public.run_group_member')).toEqual(before);
  }, 180_000);

  it('during the swap (its transaction open, waiting for its lock): nothing switched; the rerun swaps', async () => {
    // A reader holds the runs: the swap's LOCK waits in its open transaction.
    const reader = postgres(server.url(), { max: 1, ...quiet });
    const held = reader
      .begin(async (tx) => {
        await tx`LOCK TABLE leaderboard_run IN ACCESS SHARE MODE`;
        await new Promise(() => {}); // until the server dies
      })
      .catch(() => {});
    const swap = pgpartsProcess(
      server.url(),
      'convert',
      'leaderboard',
      'swap',
      '--lock-timeout',
      '60000',
    );
    const killed = await crashDuring(
      swap,
      `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%'`,
    );
    await held;
    await reader.end({ timeout: 1 }).catch(() => {});
    expect(killed.code).not.toBe(0);
    const [kind] =
      await sql`SELECT relkind::text AS k FROM pg_class WHERE oid = 'public.leaderboard_run'::regclass`;
    expect(kind?.k).toBe('r'); // still the legacy table
    expect(await digests('public.leaderboard_run', 'public.run_group_member')).toEqual(before);
  }, 180_000);

  it('during the REFRESH after the swap commit: verify is not OK; --all finishes; rows equal', async () => {
    const swap = pgpartsProcess(server.url(), 'convert', 'leaderboard', 'swap');
    const killed = await crashDuring(
      swap,
      `SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'REFRESH MATERIALIZED VIEW%slow_totals%'`,
    );
    expect(killed.code).not.toBe(0);
    const [kind] =
      await sql`SELECT relkind::text AS k FROM pg_class WHERE oid = 'public.leaderboard_run'::regclass`;
    expect(kind?.k).toBe('p'); // the swap had committed
    const verify = await pgparts(server.url(), 'convert', 'leaderboard', 'verify');
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/NOT FINISHED[\s\S]*REFRESH "public"."slow_totals"/);
    const all = await pgparts(server.url(), 'convert', 'leaderboard', '--all');
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/verify leaderboard: OK/);
    expect(await digests('public.leaderboard_run', 'public.run_group_member')).toEqual(before);
    expect(
      await digests(
        'pgparts_leaderboard_old.leaderboard_run',
        'pgparts_leaderboard_old.run_group_member',
      ),
    ).toEqual(before);
    const [mv] = await sql`SELECT sum(runs)::int AS n FROM slow_totals`;
    expect(mv?.n).toBe((before.runs as { rows: number }).rows);
  }, 180_000);
});
