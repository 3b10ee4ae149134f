import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import {
  MAINTENANCE_RUNS_TABLE,
  maintenanceRunsAlterSql,
  readMaintenanceRuns,
} from '../../src/catalog/maintenance-runs.js';
import { parseFamily } from '../../src/define/spec.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { isPgpartsError } from '../../src/errors.js';
import { apply } from '../../src/run/apply.js';
import { pgparts } from '../cli/run-cli.js';
import { recordingDatabase } from '../support/recording.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

/** The CREATE TABLE of pgparts 0.1.0's record (no pid, no 'running'), in a schema. */
const oldRunsTable = (schema: string) => `
  CREATE TABLE "${schema}".${MAINTENANCE_RUNS_TABLE} (
    "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "family" text NOT NULL,
    "started_at" timestamptz NOT NULL, "finished_at" timestamptz NOT NULL DEFAULT now(),
    "outcome" text NOT NULL CHECK ("outcome" IN ('ok', 'failed', 'error')),
    "steps_done" integer NOT NULL, "steps_failed" integer NOT NULL,
    "steps_skipped" integer NOT NULL, "duration_ms" integer NOT NULL, "steps" jsonb NOT NULL,
    "error" text)`;

describe('maintenance runs', () => {
  it("a schema's first run with nothing to do makes the table before its record, no failed INSERT", async () => {
    // The record was tried first and failed with "relation does not exist" (an ERROR in the
    // server's log on every new schema's first run), then the table made and the INSERT sent again.
    await t.sql.unsafe(`CREATE SCHEMA quiet_first;
      CREATE TABLE quiet_first.q (id bigint NOT NULL, k int NOT NULL) PARTITION BY LIST (k)`);
    const family = parseFamily({
      name: 'quiet_first',
      schema: 'quiet_first',
      tables: ['q'],
      partitionBy: { strategy: 'list', column: 'k', values: [] },
    });
    const recording = recordingDatabase(t);
    try {
      const result = await apply(recording.db, { families: [family] });
      expect(result).toMatchObject({ status: 'applied', ok: true, done: 0 });
    } finally {
      await recording.close();
    }
    const records = recording.statements.filter((s) =>
      /INSERT INTO "quiet_first"\."pgparts_maintenance_runs"/.test(s),
    );
    expect(records).toHaveLength(1);
    const made = recording.statements.findIndex((s) =>
      /CREATE TABLE IF NOT EXISTS "quiet_first"\."pgparts_maintenance_runs"/.test(s),
    );
    expect(made).toBeGreaterThanOrEqual(0);
    expect(made).toBeLessThan(recording.statements.indexOf(records[0] ?? ''));
  });

  it('are recorded by apply per family (when, steps, outcome, duration) and shown by status', async () => {
    expect(await readMaintenanceRuns(t.db, families)).toEqual(
      families.map((f) => ({ family: f.name, lastRun: null, lastSuccess: null })),
    );
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1')`;
    const first = await apply(t.db, { families });
    expect(first.ok).toBe(true);
    const [leaderboard] = await readMaintenanceRuns(t.db, families);
    expect(leaderboard?.lastRun).toMatchObject({
      family: 'leaderboard',
      outcome: 'ok',
      stepsDone: 2,
      stepsFailed: 0,
      error: null,
    });
    expect(leaderboard?.lastRun?.steps.map((s) => [s.kind, s.label, s.outcome])).toEqual([
      ['create', '1', 'done'],
      ['create', '1', 'done'],
    ]);
    expect(leaderboard?.lastSuccess).toEqual(leaderboard?.lastRun);

    // A table already holding the next partition's name: its create step fails.
    await t.sql`INSERT INTO season (id, name) VALUES (2, 'S2')`;
    await t.sql`CREATE TABLE leaderboard_run_s2 (x int)`;
    const second = await apply(t.db, { families });
    expect(second.failed).toBeGreaterThan(0);
    const [after] = await readMaintenanceRuns(t.db, families);
    expect(after?.lastRun?.outcome).toBe('failed');
    expect(after?.lastRun?.stepsFailed).toBe(1);
    expect(after?.lastRun?.steps.find((s) => s.outcome === 'failed')?.message).toContain(
      'already exists',
    );
    expect(after?.lastSuccess?.finishedAt).toEqual(leaderboard?.lastRun?.finishedAt);
    const [rows] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${t.sql(MAINTENANCE_RUNS_TABLE)} WHERE family = 'leaderboard'`;
    expect(rows?.n).toBe(2);

    const shown = await pgparts(t.url, 'status');
    expect(shown.stdout).toMatch(/leaderboard: last run \S+ failed \(0 done, 1 failed, 1 skipped/);
    expect(shown.stdout).toContain(
      `leaderboard: last success ${leaderboard?.lastRun?.finishedAt.toISOString()}`,
    );
    const json = JSON.parse((await pgparts(t.url, 'status', '--json')).stdout);
    expect(json.maintenance[0].lastRun.outcome).toBe('failed');
  }, 180_000);

  it('a run cut off by a lost connection shows as interrupted, not missing; one in progress as running', async () => {
    const runsBefore = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${t.sql(MAINTENANCE_RUNS_TABLE)}`;
    await t.sql`DROP TABLE leaderboard_run_s2`; // the blocker of the test before
    // Seasons 2 to 4: six create steps. The run's backend is terminated after the first.
    await t.sql`INSERT INTO season (id, name) VALUES (3, 'S3'), (4, 'S4')`;
    const client = t.connect({ max: 2 });
    let seenWhileRunning: string | undefined;
    let runPid: number | null = null;
    const error = await apply(drizzle(client), {
      families,
      onProgress: async (event) => {
        if (event.type === 'lock-acquired') runPid = event.pid;
        if (event.type !== 'step-end' || event.index !== 0) return;
        const [runs] = await readMaintenanceRuns(t.db, families);
        seenWhileRunning = runs?.lastRun?.outcome;
        await t.sql`SELECT pg_terminate_backend(${runPid ?? 0}::int)`;
      },
    }).catch((e: unknown) => e);
    await client.end({ timeout: 5 });
    expect(isPgpartsError(error, 'connection'), String(error)).toBe(true);
    expect(seenWhileRunning).toBe('running');
    const [parts] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid::regclass::text LIKE '%\_s2'`;
    expect(parts?.n).toBeGreaterThan(0); // it changed something before it was cut off
    const [leaderboard] = await readMaintenanceRuns(t.db, families);
    expect(leaderboard?.lastRun?.outcome).toBe('interrupted');
    const [rows] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${t.sql(MAINTENANCE_RUNS_TABLE)}`;
    expect(rows?.n).toBe((runsBefore[0]?.n ?? 0) + families.length);
    const shown = await pgparts(t.url, 'status');
    expect(shown.stdout).toMatch(
      /leaderboard: last run started \S+ interrupted: it never finished/,
    );
    expect(shown.stdout).toMatch(/leaderboard: last success \S+/);
    // The next run finishes the seasons, and its row replaces nothing: it is a row of its own.
    const next = await apply(t.db, { families });
    expect(next.ok).toBe(true);
    const [after] = await readMaintenanceRuns(t.db, families);
    expect(after?.lastRun).toMatchObject({ outcome: 'ok', stepsFailed: 0 });
    expect(after?.lastRun?.stepsDone).toBeGreaterThan(0);
    // A no-op run records its outcome only: no row left running by it, ever.
    await apply(t.db, { families });
    const [running] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${t.sql(MAINTENANCE_RUNS_TABLE)} WHERE outcome = 'running'`;
    expect(running?.n).toBe(families.length); // the interrupted run's, per family
  }, 180_000);

  it("upgrades a table of 0.1.0 (no pid, no 'running') at the end of a run, which is recorded", async () => {
    await t.sql.unsafe(`
      DROP TABLE ${MAINTENANCE_RUNS_TABLE};
      ${oldRunsTable('public')}`);
    expect(await readMaintenanceRuns(t.db, families)).toEqual(
      families.map((f) => ({ family: f.name, lastRun: null, lastSuccess: null })),
    );
    await t.sql`INSERT INTO season (id, name) VALUES (5, 'S5')`;
    const result = await apply(t.db, { families });
    expect(result).toMatchObject({ ok: true, warnings: [] });
    const [first] = await readMaintenanceRuns(t.db, families);
    expect(first?.lastRun).toMatchObject({ outcome: 'ok', stepsDone: 2 });
    // Upgraded: the next run with steps writes its 'running' rows (then its outcome).
    await t.sql`INSERT INTO season (id, name) VALUES (6, 'S6')`;
    let seen: string | undefined;
    const second = await apply(t.db, {
      families,
      onProgress: async (event) => {
        if (event.type === 'step-end' && event.index === 0)
          seen = (await readMaintenanceRuns(t.db, families))[0]?.lastRun?.outcome;
      },
    });
    expect(second).toMatchObject({ ok: true, warnings: [] });
    expect(seen).toBe('running');
    const [last] = await readMaintenanceRuns(t.db, families);
    expect(last?.lastRun).toMatchObject({ outcome: 'ok', stepsDone: 2 });
  }, 180_000);

  it("a table of 0.1.0 owned by another role: the run is recorded, and a warning says so, why it was not upgraded and the owner's statements", async () => {
    const suffix = randomBytes(4).toString('hex');
    const schema = `runs_${suffix}`;
    const [tables, runsOwner, app] = ['tabowner', 'runsowner', 'maint'].map(
      (r) => `pgparts_${r}_${suffix}`,
    );
    // The report's setup: the family's tables owned by a role maintenance is a member of, the
    // record (made by 0.1.0) by another that only granted it reads and writes.
    await t.sql.unsafe(`
      CREATE ROLE ${tables} NOLOGIN;
      CREATE ROLE ${runsOwner} NOLOGIN;
      CREATE ROLE ${app} LOGIN PASSWORD 'm';
      GRANT ${tables} TO ${app};
      CREATE SCHEMA ${schema} AUTHORIZATION ${tables};
      GRANT USAGE, CREATE ON SCHEMA ${schema} TO ${app}, ${runsOwner};
      CREATE TABLE ${schema}.visits (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      ALTER TABLE ${schema}.visits OWNER TO ${tables};
      ${oldRunsTable(schema)};
      ALTER TABLE ${schema}.${MAINTENANCE_RUNS_TABLE} OWNER TO ${runsOwner};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.${MAINTENANCE_RUNS_TABLE} TO ${app};`);
    const client = t.connect({ max: 2, username: app, password: 'm' });
    try {
      const visits = parseFamily({
        name: 'visits',
        schema,
        tables: ['visits'],
        partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 0 },
      });
      const runs = () => t.sql<{ outcome: string; steps_done: number }[]>`
        SELECT outcome, steps_done FROM ${t.sql(schema)}.${t.sql(MAINTENANCE_RUNS_TABLE)} ORDER BY id`;
      const now = new Date('2026-12-15T00:00:00Z');
      const result = await apply(drizzle(client), { families: [visits], now });
      expect(result).toMatchObject({ ok: true, done: 2 });
      expect(await runs()).toEqual([{ outcome: 'ok', steps_done: 2 }]); // recorded
      expect(result.warnings.filter((w) => w.startsWith('could not record the run'))).toEqual([]);
      expect(result.warnings).toHaveLength(1);
      const [warning] = result.warnings;
      expect(warning).toContain(
        `recorded the run, but could not upgrade "${schema}"."${MAINTENANCE_RUNS_TABLE}"`,
      );
      expect(warning).toContain(`must be owner of table ${MAINTENANCE_RUNS_TABLE}`);
      expect(warning).toContain('will not show as interrupted');
      const statements = maintenanceRunsAlterSql(schema);
      for (const statement of statements) expect(warning).toContain(`  ${statement};`);

      // The statements shown, run by the table's owner, upgrade it: the next run writes its
      // 'running' rows, and warns no more.
      await t.sql.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL ROLE ${runsOwner}`);
        for (const statement of statements) await tx.unsafe(statement);
      });
      let seen: string | undefined;
      const next = await apply(drizzle(client), {
        families: [visits],
        now: new Date('2027-01-15T00:00:00Z'),
        onProgress: async (event) => {
          if (event.type === 'step-end' && event.index === 0) seen = (await runs()).at(-1)?.outcome;
        },
      });
      expect(next).toMatchObject({ ok: true, warnings: [] });
      expect(seen).toBe('running');
      expect((await runs()).at(-1)).toEqual({ outcome: 'ok', steps_done: 1 });
    } finally {
      await client.end({ timeout: 5 });
      await t.sql.unsafe(`
        DROP SCHEMA ${schema} CASCADE;
        DROP ROLE ${app};
        DROP ROLE ${runsOwner};
        DROP ROLE ${tables};`);
    }
  }, 180_000);
});
