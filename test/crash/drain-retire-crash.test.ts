import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgparts, pgpartsProcess } from '../cli/run-cli.js';
import { insertRuns, setupSeasons } from '../drain/leaderboard-fixture.js';
import {
  type CrashableServer,
  crashWhen,
  startCrashableServer,
  untilServerSays,
} from '../support/crashable-server.js';
import { type TableDigest, tableDigest } from '../support/table-checksum.js';

/**
 * Drain and retire survive their server being killed (SIGKILL of the postmaster): during the
 * drain's online copy, inside its final transaction after its first ATTACH (the
 * transaction is held open by a row lock on pgparts's ownership record), and during a retire.
 * The killed command exits non-zero; after the restart the rerun finishes; counts and checksums
 * of every row are as before (0 lost, 0 duplicated).
 */
let server: CrashableServer;
let sql: postgres.Sql;
const quiet = { onnotice: () => {} };

const connect = () => {
  sql = postgres(server.url(), { max: 3, ...quiet });
  return sql;
};

async function digests(where = 'true'): Promise<{ runs: TableDigest; members: TableDigest }> {
  return {
    runs: await tableDigest(sql, 'leaderboard_run', ['id'], where),
    members: await tableDigest(sql, 'run_group_member', ['run_guid', 'character_name'], where),
  };
}

/** Kills the server under a running command once `when` returns a row; restarts it. */
async function crashDuring(run: Promise<{ code: number | null; stderr: string }>, when: string) {
  const killed = await crashWhen(server, run, when, () => sql.end({ timeout: 1 }));
  connect();
  return killed;
}

/** A transaction of another session held open (until the server dies) after `statement`. */
async function hold(statement: string): Promise<void> {
  const holder = postgres(server.url(), { max: 1, ...quiet });
  let locked: () => void = () => {};
  const ready = new Promise<void>((r) => {
    locked = r;
  });
  void holder
    .begin(async (tx) => {
      await tx.unsafe(statement);
      locked();
      await new Promise(() => {});
    })
    .catch(() => {});
  await ready;
}

let before: { runs: TableDigest; members: TableDigest };
// Runs per season (5 members each): enough DEFAULT pages for dozens of 8-page batches, which
// the throttle below spreads over seconds, so the kill lands while the copy runs.
const S12_RUNS = 6_000;
const S13_RUNS = 1_000;
const S14_RUNS = 2_000;

beforeAll(async () => {
  server = await startCrashableServer('crash-drain');
  connect();
  const migrated = await pgparts(server.url(), 'migrate');
  expect(migrated.code, migrated.stderr).toBe(0);
  await setupSeasons(sql); // 13 has partitions; 12 and 14 land in DEFAULT
  await insertRuns(sql, 12, S12_RUNS);
  await insertRuns(sql, 14, S14_RUNS, 100_000);
  await insertRuns(sql, 13, S13_RUNS, 200_000);
  before = await digests();
  // Crash recovery then replays what the commands under test wrote, not this load.
  await sql`CHECKPOINT`;
}, 240_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 }).catch(() => {});
  await server?.stop();
}, 60_000);

describe('the server is killed during a drain', () => {
  it('during the online copy: non-zero exit; the rerun finishes; every row as before', async () => {
    const drain = pgpartsProcess(
      server.url(),
      'drain',
      'leaderboard_run',
      '12',
      '--batch-pages',
      '8',
      '--throttle',
      '50',
    );
    const killed = await crashDuring(
      drain,
      `SELECT 1 FROM pgparts_operations WHERE key = '12' AND phase = 'prepared'`,
    );
    expect(killed.code).not.toBe(0);
    const [op] = await sql`SELECT operation, phase FROM pgparts_operations WHERE key = '12'`;
    expect(op).toEqual({ operation: 'drain', phase: 'prepared' }); // interrupted, and recorded
    const rerun = await pgparts(server.url(), 'drain', 'leaderboard_run', '12');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await digests()).toEqual(before);
    const [left] = await sql`SELECT
      (SELECT count(*)::int FROM leaderboard_run_default WHERE season_id = 12) AS in_default,
      (SELECT count(*)::int FROM leaderboard_run_s12) AS in_partition,
      (SELECT count(*)::int FROM pgparts_operations) AS operations`;
    expect(left).toEqual({ in_default: 0, in_partition: S12_RUNS, operations: 0 });
  }, 240_000);

  it('inside its final transaction (moving the rows, after an ATTACH): rolled back; the rerun finishes', async () => {
    // The drain's staging rows are recorded as owned at prepare; its final transaction updates
    // the record after each ATTACH. A row lock held on them stops it right there.
    const drain = pgpartsProcess(
      server.url(),
      'drain',
      'leaderboard_run',
      '14',
      '--lock-timeout',
      '60000',
      '--batch-pages',
      '8',
      '--throttle',
      '100',
    );
    // Taken during the online copy, which never touches these rows.
    await untilServerSays(
      server,
      `SELECT 1 FROM pgparts_operations WHERE key = '14' AND phase = 'prepared'`,
    );
    await hold(`SELECT 1 FROM pgparts_owned_tables WHERE role = 'staging' FOR UPDATE`);
    const killed = await crashDuring(
      drain,
      `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE%pgparts_owned_tables%'`,
    );
    expect(killed.code).not.toBe(0);
    // Killed in the final phase: its transaction (DELETE, ATTACH) rolled back with the crash.
    const [op] = await sql`SELECT phase FROM pgparts_operations WHERE key = '14'`;
    expect(op?.phase).toBe('finishing');
    const [still] =
      await sql`SELECT count(*)::int AS n FROM leaderboard_run_default WHERE season_id = 14`;
    expect(still?.n).toBe(S14_RUNS);
    const rerun = await pgparts(server.url(), 'drain', 'leaderboard_run', '14');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await digests()).toEqual(before);
    const [left] = await sql`SELECT
      (SELECT count(*)::int FROM leaderboard_run_default WHERE season_id = 14) AS in_default,
      (SELECT count(*)::int FROM leaderboard_run_s14) AS in_partition`;
    expect(left).toEqual({ in_default: 0, in_partition: S14_RUNS });
  }, 240_000);
});

describe('the server is killed during a retire', () => {
  it('while it detaches: non-zero exit; the rerun finishes; every other row as before', async () => {
    await hold('LOCK TABLE run_group_member_s13 IN ACCESS SHARE MODE');
    const retire = pgpartsProcess(
      server.url(),
      'retire',
      'leaderboard_run',
      '13',
      '--yes',
      '--lock-timeout',
      '60000',
    );
    const killed = await crashDuring(
      retire,
      `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND backend_type = 'client backend'`,
    );
    expect(killed.code).not.toBe(0);
    const rerun = await pgparts(server.url(), 'retire', 'leaderboard_run', '13', '--yes');
    expect(rerun.code, rerun.stderr).toBe(0);
    const kept = 'season_id <> 13';
    const expected = {
      runs: await tableDigest(sql, 'leaderboard_run', ['id'], kept),
      members: await tableDigest(sql, 'run_group_member', ['run_guid', 'character_name'], kept),
    };
    expect(expected.runs.rows).toBe(before.runs.rows - S13_RUNS);
    expect(await digests()).toEqual(expected);
    const [gone] = await sql`SELECT to_regclass('leaderboard_run_s13') IS NULL AS runs,
      to_regclass('run_group_member_s13') IS NULL AS members`;
    expect(gone).toEqual({ runs: true, members: true });
  }, 240_000);
});
