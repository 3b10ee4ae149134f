import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { ensureOwnership } from '../../src/ops/ownership.js';
import { plan, type Step } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { runCreateStep } from '../../src/run/create-step.js';
import { DEFAULT_EXCLUDES_CHECK } from '../../src/sql/partition-ddl.js';
import { seedRuns } from '../support/app-writers.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** A monthly family with DEFAULT; `premake` decides how far ahead the plan creates months. */
const readings = (premake: number) =>
  parseFamily({
    name: 'readings',
    tables: ['readings'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake },
    defaultPartition: true,
  });

/** The first instant of the month `ahead` months after this one, in UTC. */
function monthStart(ahead: number): Date {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + ahead, 1));
}

/** The create step of the month `ahead` months from now (a month that has not begun). */
async function createStep(ahead: number): Promise<Step> {
  const family = readings(ahead);
  const snapshot = await inspect(t.db, [family]);
  const planned = plan([family], snapshot, snapshot.takenAt, { retention: false });
  await ensureOwnership(t.db, family);
  const step = planned.steps.find(
    (s) =>
      s.kind === 'create' &&
      s.key.kind === 'range' &&
      s.key.from.getTime() === monthStart(ahead).getTime(),
  );
  if (!step) throw new Error(`expected a create step for the month ${ahead} ahead`);
  return step;
}

/** Rows of a month long gone, with no partition: they sit in DEFAULT. */
async function seedStray(rows: number): Promise<void> {
  await t.sql`INSERT INTO readings (id, at)
    SELECT g, timestamptz '2020-01-01Z' + g * interval '1 minute' FROM generate_series(1, ${rows}) g
    ON CONFLICT DO NOTHING`;
}

async function leftoverChecks(): Promise<string[]> {
  const rows = await t.sql<{ rel: string }[]>`
    SELECT conrelid::regclass::text AS rel FROM pg_constraint
    WHERE conname = ${DEFAULT_EXCLUDES_CHECK} ORDER BY 1`;
  return rows.map((r) => r.rel);
}

beforeAll(async () => {
  await t.sql.unsafe(`CREATE TABLE readings (id bigint NOT NULL, at timestamptz NOT NULL,
    PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
  expect((await apply(t.db, { families: [readings(0)], retention: false })).ok).toBe(true);
  await seedStray(200);
});

/** A connection that hears the server's DEBUG1 messages (what ALTER TABLE scans or skips). */
function debugConnection(heard: string[]): postgres.Sql {
  return t.connect({
    max: 1,
    onnotice: (n) => heard.push(String(n.message)),
    connection: { client_min_messages: 'debug1' },
  });
}

/**
 * DEFAULT holds stray rows (a month long gone): creating a month that has not begun must not
 * scan DEFAULT under the ACCESS EXCLUSIVE lock ATTACH takes on it. The server says what ATTACH
 * did (its DEBUG1 messages), and whether the validation scan let a writer of DEFAULT go on.
 */
describe('creating a partition next to a DEFAULT that holds rows', () => {
  it('validates a CHECK on DEFAULT first, so ATTACH skips its scan of DEFAULT; the CHECK is gone after', async () => {
    const step = await createStep(1);
    const target = '"public"."readings_default"';
    expect(step.prepare).toEqual([
      expect.stringMatching(
        new RegExp(
          `^ALTER TABLE ${target.replaceAll('.', '\\.')} DROP CONSTRAINT IF EXISTS "${DEFAULT_EXCLUDES_CHECK}", ADD CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}" CHECK \\(NOT \\(.*"at".*\\)\\) NOT VALID$`,
        ),
      ),
      `ALTER TABLE ${target} VALIDATE CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}"`,
    ]);
    const attach = step.sql.findIndex((q) => q.includes(' ATTACH PARTITION '));
    const drop = step.sql.indexOf(
      `ALTER TABLE ${target} DROP CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}"`,
    );
    expect(attach).toBeGreaterThan(0);
    expect(drop).toBeGreaterThan(attach);
    expect(step.cleanup).toEqual([
      `ALTER TABLE ${target} DROP CONSTRAINT IF EXISTS "${DEFAULT_EXCLUDES_CHECK}"`,
    ]);

    const heard: string[] = [];
    const client = debugConnection(heard);
    await runCreateStep(drizzle(client), step, 500);
    // VALIDATE scans DEFAULT once; ATTACH then proves its bound from the CHECK, no scan.
    expect(heard.filter((m) => m === 'verifying table "readings_default"')).toHaveLength(1);
    expect(heard).toContain(
      'updated partition constraint for default partition "readings_default" is implied by existing constraints',
    );
    expect(heard).toContain(
      `partition constraint for table "${step.partitions[0]}" is implied by existing constraints`,
    );
    expect(await leftoverChecks()).toEqual([]);
    const [attached] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_inherits
      WHERE inhrelid = to_regclass(${`public.${step.partitions[0]}`})
        AND inhparent = 'readings'::regclass`;
    expect(attached?.n).toBe(1);
  });

  it('runs the validation scan while a writer holds an uncommitted insert into DEFAULT', async () => {
    const step = await createStep(2);
    if (!step.prepare) throw new Error('expected a create step with prepare statements');
    const [addCheck, validate] = step.prepare;
    const runner = t.connect({ max: 1 });
    await runner.unsafe(addCheck as string);
    const writer = t.connect({ max: 1 });
    const app = await writer.reserve();
    try {
      await app.unsafe('BEGIN');
      await app.unsafe(`INSERT INTO readings (id, at) VALUES (100000, '2020-02-01Z')`);
      const [held] = await t.sql<{ mode: string }[]>`
        SELECT mode FROM pg_locks WHERE relation = 'readings_default'::regclass
          AND granted AND mode = 'RowExclusiveLock' LIMIT 1`;
      expect(held?.mode).toBe('RowExclusiveLock');
      // SHARE UPDATE EXCLUSIVE does not conflict with the writer's ROW EXCLUSIVE: no wait at
      // all, where lock_timeout would have ended a wait after 100 ms with 55P03.
      await runner.begin(async (tx) => {
        await tx.unsafe(`SET LOCAL lock_timeout = '100ms'`);
        await tx.unsafe(validate as string);
      });
      await app.unsafe('COMMIT');
    } finally {
      app.release();
    }
    await runCreateStep(drizzle(runner), { sql: step.sql, cleanup: step.cleanup ?? [] }, 500);
    expect(await leftoverChecks()).toEqual([]);
  });

  it('drops the CHECK when the step fails (a row of the key reached DEFAULT after the plan)', async () => {
    const step = await createStep(3);
    // The row arrives between the plan and the run: no partition yet, so it lands in DEFAULT.
    await t.sql`INSERT INTO readings (id, at) VALUES (1, ${monthStart(3).toISOString()})`;
    await expect(runCreateStep(t.db, step, 500)).rejects.toMatchObject({
      cause: expect.objectContaining({ code: '23514' }),
    });
    expect(await leftoverChecks()).toEqual([]);
    const [found] = await t.sql<{ t: string | null }[]>`
      SELECT to_regclass(${`public.${step.partitions[0]}`})::text AS t`;
    expect(found?.t).toBeNull();
    await t.sql`DELETE FROM readings WHERE at = ${monthStart(3).toISOString()}`;
  });

  it('reports a CHECK an interrupted create left on DEFAULT, and the next create replaces it', async () => {
    await t.sql.unsafe(
      `ALTER TABLE readings_default ADD CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}" CHECK (at <> '1999-01-01Z') NOT VALID`,
    );
    const snapshot = await inspect(t.db, [readings(4)]);
    const anomalies = snapshot.families[0]?.anomalies.filter(
      (a) => a.kind === 'leftover-default-check',
    );
    expect(anomalies?.map((a) => a.partition)).toEqual(['readings_default']);
    const result = await apply(t.db, {
      families: [readings(4)],
      retention: false,
      executors: { drain: async () => 'not drained in this test' },
    });
    expect(result.results.filter((r) => r.outcome === 'failed')).toEqual([]);
    expect(await leftoverChecks()).toEqual([]);
  });

  it('leaves a DEFAULT pgparts does not own as it is: its ATTACH scans it', async () => {
    await ensureOwnership(t.db, readings(5));
    await t.sql`DELETE FROM pgparts_owned_tables WHERE name = 'readings_default'`;
    const step = await createStep(5);
    expect(step.prepare).toBeUndefined();
    expect(step.sql.join('\n')).not.toContain(DEFAULT_EXCLUDES_CHECK);
  });

  it('never for a LIST value: an app insert of the new value through the parent must not be refused', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (12, 'S12'), (301, 'S301')`;
    await t.sql`INSERT INTO dungeon (id, name) VALUES (1, 'D1') ON CONFLICT DO NOTHING`;
    await seedRuns(t.sql, 12, 50);
    const snapshot = await inspect(t.db, [leaderboardFamily]);
    expect(
      snapshot.families[0]?.tables
        .find((x) => x.name === 'leaderboard_run')
        ?.partitions.find((p) => p.key?.kind === 'default')?.defaultRows?.hasRows,
    ).toBe(true);
    const steps = plan([leaderboardFamily], snapshot, snapshot.takenAt, {
      retention: false,
    }).steps.filter((s) => s.kind === 'create' && s.label === '301');
    expect(steps).toHaveLength(2);
    for (const step of steps) {
      expect(step.prepare).toBeUndefined();
      expect(step.sql.join('\n')).not.toContain(DEFAULT_EXCLUDES_CHECK);
    }
  });
});
