import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';
import { MAINTENANCE_LOCK_KEY } from '../../src/run/advisory-lock.js';
import { useTestDatabase } from '../support/test-database.js';
import { pgparts, pgpartsProcess, REPO_ROOT } from './run-cli.js';

const t = useTestDatabase();

const SECRET = 'Sup3r-Secret-Pw';

describe('pgparts CLI', () => {
  // Three launches of the real binary (help, a migrate and a status, a failing exit code); every
  // other test runs the same runCli in this process.
  it('--help lists the subcommands and their options (a separate process)', async () => {
    const top = await pgpartsProcess(undefined, '--help');
    expect(top.code).toBe(0);
    for (const command of [
      'generate',
      'migrate',
      'status',
      'plan',
      'apply',
      '--config <file>',
      '--database-url <url>',
      '-V, --version',
    ]) {
      expect(top.stdout).toContain(command);
    }
    const apply = await pgparts(undefined, 'apply', '--help');
    expect(apply.code).toBe(0);
    for (const option of ['--dry-run', '--yes', '--lock-timeout <ms>', '--retries <n>']) {
      expect(apply.stdout).toContain(option);
    }
  });

  it("an unknown command: commander's message on stderr, exit 1, in-process too", async () => {
    const run = await pgparts(undefined, 'frobnicate');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain("unknown command 'frobnicate'");
  });

  it('--lock-timeout and --retries above their bounds are refused by the parser, before anything connects', async () => {
    // 700000 passed the parser and was refused by the API after the run's header was printed
    // (or accepted by --dry-run); a value past 2^31 reached the server as a raw error.
    for (const [command, option, value, bound] of [
      ['apply', '--lock-timeout', '700000', '1 to 600000'],
      ['plan', '--lock-timeout', '99999999999', '1 to 600000'],
      ['convert', '--lock-timeout', '600001', '1 to 600000'],
      ['status', '--retries', '1001', '0 to 1000'],
    ] as const) {
      const run = await pgparts('postgres://nobody@127.0.0.1:1/none', command, option, value);
      expect(run.code, `${command} ${option}`).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(
        `option '${option} <${option === '--retries' ? 'n' : 'ms'}>' argument '${value}' is invalid. expected a whole number from ${bound}, got ${value}`,
      );
    }
  });

  it("--version prints the package's version from its package.json, exit 0", async () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    for (const flag of ['--version', '-V']) {
      const run = await pgparts(undefined, flag);
      expect(run).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('migrate and status run as a separate process, exit 0', async () => {
    const migrated = await pgpartsProcess(t.url, 'migrate');
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/nothing pending on |migrated /);
    const status = await pgpartsProcess(t.url, 'status');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('pgparts status of ');
    // migrate takes the lock options every locking command takes.
    const again = await pgparts(t.url, 'migrate', '--lock-timeout', '200', '--retries', '1');
    expect(again.stderr).toBe('');
    expect(again.stdout).toContain('nothing pending on ');
  });

  it('status --check alerts (exit 2) on a season without partitions; plan shows the SQL; apply --dry-run runs nothing', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1')`;
    const check = await pgparts(t.url, 'status', '--check');
    expect(check.code).toBe(2);
    expect(check.stdout).toContain(
      'family leaderboard: 2 step(s) pending for 1; run pgparts apply',
    );
    expect(check.stdout).toMatch(/killmails_raw_\d{4}_\d{2} +\d{4}-\d{2}-01\.\.\d{4}-\d{2}-01/);

    const planned = await pgparts(t.url, 'plan');
    expect(planned.code).toBe(0);
    expect(planned.stdout).toContain(
      'ALTER TABLE "public"."leaderboard_run" ATTACH PARTITION "public"."leaderboard_run_s1" FOR VALUES IN (1);',
    );
    expect(planned.stdout).toContain('why: 1 is in public.season.id and has no partition');

    const json = JSON.parse((await pgparts(t.url, 'plan', '--json')).stdout);
    expect(json.steps.map((s: { partitions: string[] }) => s.partitions[0])).toEqual([
      'leaderboard_run_s1',
      'run_group_member_s1',
    ]);

    const dry = await pgparts(t.url, 'apply', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('(nothing is run)');
    expect(dry.stdout).toContain(
      'ATTACH PARTITION "public"."run_group_member_s1" FOR VALUES IN (1);',
    );
    const [still] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'leaderboard_run_s1'`;
    expect(still?.n).toBe(0);
  });

  it('apply runs the plan, then nothing is left: plan is empty, status --check passes', async () => {
    const applied = await pgparts(t.url, 'apply');
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('[1/2] create leaderboard_run_s1: done');
    expect(applied.stdout).toContain('2 done, 0 skipped, 0 failed');

    const planned = await pgparts(t.url, 'plan');
    expect(planned.stdout).toContain('nothing to do: every declared partition exists');
    const check = await pgparts(t.url, 'status', '--check');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('all well: nothing needs attention');

    const report = JSON.parse((await pgparts(t.url, 'status', '--json')).stdout);
    expect(report.attention).toEqual([]);
    expect(report.families.map((f: { family: string }) => f.family)).toEqual([
      'leaderboard',
      'killmails',
    ]);
  });

  it('skips destructive steps without --yes (no terminal to ask on)', async () => {
    // A pgparts-made month far outside retention, in all three killmail tables.
    for (const table of ['killmails_raw', 'killmails_enriched', 'killmail_participants']) {
      await t.sql.unsafe(`CREATE TABLE ${table}_2020_01 PARTITION OF ${table}
        FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00');
        COMMENT ON TABLE ${table}_2020_01 IS 'pgparts:managed'`);
    }
    const planned = await pgparts(t.url, 'plan');
    expect(planned.stdout).toContain(
      '1. retire killmails 2020-01-01..2020-02-01 (killmail_participants_2020_01, killmails_enriched_2020_01, killmails_raw_2020_01)  [destructive]',
    );
    const applied = await pgparts(t.url, 'apply');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(
      '1 destructive step(s) will be skipped (pass --yes to run them)',
    );
    expect(applied.stdout).toContain('skipped: destructive: needs --yes (allowDestructive) to run');
    // --json: stdout is the result alone, what is said along the way on stderr.
    const json = await pgparts(t.url, 'apply', '--json');
    expect(json.code).toBe(0);
    const result = JSON.parse(json.stdout);
    expect(result).toMatchObject({ status: 'applied', ok: true, done: 0, skipped: 1, failed: 0 });
    expect(result.results[0]).toMatchObject({
      outcome: 'skipped',
      message: 'destructive: needs --yes (allowDestructive) to run',
      step: { kind: 'retire', label: '2020-01-01..2020-02-01' },
    });
    expect(json.stderr).toContain('1 destructive step(s) will be skipped');
    expect(json.stderr).toContain('1 step(s) to run');
    const dryJson = JSON.parse((await pgparts(t.url, 'apply', '--dry-run', '--json')).stdout);
    expect(dryJson).toMatchObject({ dryRun: true, steps: [{ kind: 'retire' }] });
    expect(dryJson.steps[0].sql.join('\n')).toContain('DETACH PARTITION');
    const yes = await pgparts(t.url, 'apply', '--yes');
    expect(yes.code).toBe(0);
    // Approved: retention drops the three partitions, referencing tables first.
    expect(yes.stdout).toContain('3 partitions dropped (DETACH CONCURRENTLY)');
    const [left] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '%\_2020\_01'`;
    expect(left?.n).toBe(0);
  });

  it('a second instance finds the maintenance lock taken and exits cleanly, doing nothing', async () => {
    const other = t.connect({ max: 1 });
    await other.reserve().then(async (held) => {
      const [row] = await held<{ pid: number }[]>`
        SELECT pg_backend_pid() AS pid, pg_advisory_lock(${MAINTENANCE_LOCK_KEY[0]}::int4, ${MAINTENANCE_LOCK_KEY[1]}::int4)`;
      try {
        const run = await pgparts(t.url, 'apply', '--yes');
        expect(run.code).toBe(0);
        expect(run.stdout).toContain(
          `another pgparts run holds the maintenance lock (backend pid ${row?.pid}); nothing done`,
        );
        expect(run.stdout).toContain('gives its runs their own --lock-key');
        const locked = await pgparts(t.url, 'apply', '--yes', '--json');
        expect(locked.code).toBe(0);
        expect(JSON.parse(locked.stdout)).toMatchObject({
          status: 'locked',
          ok: true,
          lockHolderPid: row?.pid,
        });
        // Told to wait: it says so once, tries again for the second given, then ends locked.
        const waited = await pgparts(t.url, 'apply', '--yes', '--wait-for-lock', '1');
        expect(waited.code).toBe(0);
        expect(waited.stdout).toContain(
          `another run holds the maintenance lock (backend ${row?.pid}): waiting for it (--wait-for-lock)\n`,
        );
        expect(waited.stdout.match(/waiting for it/g)).toHaveLength(1);
        expect(waited.stdout).toContain(`(backend pid ${row?.pid}); nothing done`);
        const badWait = await pgparts(t.url, 'apply', '--wait-for-lock', '1.5');
        expect(badWait.code).toBe(1);
        expect(badWait.stderr).toContain('expected a whole number from 0 to 86400, got 1.5');
        // Another app sharing the database, with its own key, is not locked out by it.
        const own = await pgparts(t.url, 'apply', '--yes', '--lock-key', '1885826145,2');
        expect(own.code, own.stderr).toBe(0);
        expect(own.stdout).not.toContain('maintenance lock');
        expect(own.stdout).toMatch(/\d+ done, \d+ skipped, 0 failed/);
        const bad = await pgparts(t.url, 'apply', '--lock-key', '1,99999999999');
        expect(bad.code).toBe(1);
        expect(bad.stderr).toContain('expected two 32-bit integers separated by a comma');
      } finally {
        await held`SELECT pg_advisory_unlock_all()`;
        held.release();
      }
    });
  });

  it('never prints the password, in output or in errors', async () => {
    const url = new URL(t.url);
    url.password = SECRET;
    const refused = await pgparts(url.toString(), 'status');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/password authentication failed/);
    const viaFlag = await pgparts(undefined, '--database-url', url.toString(), 'plan');
    const good = await pgparts(t.url, 'status');
    const goodPassword = new URL(t.url).password;
    for (const run of [refused, viaFlag]) {
      expect(run.stdout + run.stderr).not.toContain(SECRET);
    }
    expect(good.stdout).toContain(':***@');
    if (goodPassword.length >= 3) expect(good.stdout).not.toContain(`:${goodPassword}@`);
  });

  it("works on a user's own specs with --config (examples/pgparts.config.ts)", async () => {
    await t.sql.unsafe(`CREATE TABLE app_events (
      id bigserial NOT NULL, occurred_at timestamptz NOT NULL, kind text NOT NULL, payload jsonb,
      PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE (occurred_at)`);
    const config = ['--config', 'examples/pgparts.config.ts'];
    const applied = await pgparts(t.url, ...config, 'apply');
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toContain('8 done, 0 skipped, 0 failed');
    const today = intervalStart('day', new Date());
    const names = await t.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'app_events'::regclass ORDER BY 1`;
    expect(names.map((r) => r.name)).toEqual(
      Array.from(
        { length: 8 },
        (_, i) => `app_events_${intervalSuffix('day', addIntervals('day', today, i))}`,
      ),
    );
    const check = await pgparts(t.url, ...config, 'status', '--check');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(
      'app_events: RANGE by occurred_at, one day each, premake 7, retention 30 days (drop)',
    );
  });

  it('refuses a bad --config before connecting, naming the problem', async () => {
    const missing = await pgparts(t.url, '--config', 'no-such-file.ts', 'plan');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('pgparts: config file no-such-file.ts not found');
    const bad = await pgparts(
      'postgres://nobody@127.0.0.1:1/none',
      '--config',
      'test/cli/bad-config.json',
      'plan',
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      'pgparts: config file test/cli/bad-config.json: invalid partition spec for family "events"',
    );
    expect(bad.stderr).toContain('partitionBy.interval: unknown interval "fortnight"');
    expect(bad.stderr).not.toContain('ECONNREFUSED');
  });
});
