import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { ensureOwnership } from '../../src/ops/ownership.js';
import { plan, type Step } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { runCreateStep } from '../../src/run/create-step.js';
import { DEFAULT_EXCLUDES_CHECK } from '../../src/sql/partition-ddl.js';
import { seedRuns } from '../support/app-writers.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

async function createSteps(season: number): Promise<Step[]> {
  const families = [leaderboardFamily];
  const snapshot = await inspect(t.db, families);
  const planned = plan(families, snapshot, snapshot.takenAt, { retention: false });
  // What apply does before its first change: the ownership rows the steps add to.
  await ensureOwnership(t.db, leaderboardFamily);
  return planned.steps.filter((s) => s.kind === 'create' && s.label === String(season));
}

async function leftoverChecks(): Promise<string[]> {
  const rows = await t.sql<{ rel: string }[]>`
    SELECT conrelid::regclass::text AS rel FROM pg_constraint
    WHERE conname = ${DEFAULT_EXCLUDES_CHECK} ORDER BY 1`;
  return rows.map((r) => r.rel);
}

/** A connection that hears the server's DEBUG1 messages (what ALTER TABLE scans or skips). */
function debugConnection(heard: string[]): postgres.Sql {
  return t.connect({
    max: 1,
    onnotice: (n) => heard.push(String(n.message)),
    connection: { client_min_messages: 'debug1' },
  });
}

/**
 * DEFAULT holds rows of season 12 (no partition): creating another season's partitions must not
 * scan DEFAULT under the ACCESS EXCLUSIVE lock ATTACH takes on it. The server says what ATTACH
 * did (its DEBUG1 messages), and whether the validation scan let a writer of DEFAULT go on.
 */
describe('creating a partition next to a DEFAULT that holds rows', () => {
  it('validates a CHECK on DEFAULT first, so ATTACH skips its scan of DEFAULT; the CHECK is gone after', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (12, 'S12'), (301, 'S301')`;
    await t.sql`INSERT INTO dungeon (id, name) VALUES (1, 'D1') ON CONFLICT DO NOTHING`;
    await seedRuns(t.sql, 12, 200);
    const steps = await createSteps(301);
    expect(steps.map((s) => s.tables[0])).toEqual(['leaderboard_run', 'run_group_member']);
    for (const step of steps) {
      const target = `"public"."${step.tables[0]}_default"`;
      expect(step.prepare).toEqual([
        `ALTER TABLE ${target} DROP CONSTRAINT IF EXISTS "${DEFAULT_EXCLUDES_CHECK}", ADD CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}" CHECK (NOT ("season_id" IS NOT NULL AND "season_id" = 301)) NOT VALID`,
        `ALTER TABLE ${target} VALIDATE CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}"`,
      ]);
      const attach = step.sql.findIndex((s) => s.includes(' ATTACH PARTITION '));
      const drop = step.sql.indexOf(
        `ALTER TABLE ${target} DROP CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}"`,
      );
      expect(attach).toBeGreaterThan(0);
      expect(drop).toBeGreaterThan(attach);
      expect(step.cleanup).toEqual([
        `ALTER TABLE ${target} DROP CONSTRAINT IF EXISTS "${DEFAULT_EXCLUDES_CHECK}"`,
      ]);
    }

    const heard: string[] = [];
    const client = debugConnection(heard);
    for (const step of steps) {
      const partition = step.partitions[0];
      const defaultName = `${step.tables[0]}_default`;
      heard.length = 0;
      await runCreateStep(drizzle(client), step, 500);
      // VALIDATE scans DEFAULT once; ATTACH then proves its bound from the CHECK, no scan.
      expect(heard.filter((m) => m === `verifying table "${defaultName}"`)).toHaveLength(1);
      expect(heard).toContain(
        `updated partition constraint for default partition "${defaultName}" is implied by existing constraints`,
      );
      expect(heard).toContain(
        `partition constraint for table "${partition}" is implied by existing constraints`,
      );
    }
    expect(await leftoverChecks()).toEqual([]);
    const attached = await t.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE c.relname LIKE '%_s301' ORDER BY 1`;
    expect(attached.map((r) => r.name)).toEqual(['leaderboard_run_s301', 'run_group_member_s301']);
  });

  it('runs the validation scan while a writer holds an uncommitted insert into DEFAULT', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (302, 'S302')`;
    const [step] = await createSteps(302);
    if (!step?.prepare) throw new Error('expected a create step with prepare statements');
    const [addCheck, validate] = step.prepare;
    const runner = t.connect({ max: 1 });
    await runner.unsafe(addCheck as string);
    const writer = t.connect({ max: 1 });
    const open = writer.reserve();
    const app = await open;
    try {
      await app.unsafe('BEGIN');
      await seedRuns(app as unknown as postgres.Sql, 12, 1);
      const [held] = await t.sql<{ mode: string }[]>`
        SELECT mode FROM pg_locks WHERE relation = 'leaderboard_run_default'::regclass
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
    await t.sql`INSERT INTO season (id, name) VALUES (303, 'S303')`;
    const [step] = await createSteps(303);
    if (!step) throw new Error('expected a create step');
    // The row arrives between the plan and the run: no partition yet, so it lands in DEFAULT.
    await seedRuns(t.sql, 303, 1);
    await expect(runCreateStep(t.db, step, 500)).rejects.toMatchObject({
      cause: expect.objectContaining({ code: '23514' }),
    });
    expect(await leftoverChecks()).toEqual([]);
    const [found] = await t.sql<{ t: string | null }[]>`
      SELECT to_regclass('public.leaderboard_run_s303')::text AS t`;
    expect(found?.t).toBeNull();
  });

  it('reports a CHECK an interrupted create left on DEFAULT, and the next create replaces it', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (304, 'S304')`;
    await t.sql.unsafe(
      `ALTER TABLE leaderboard_run_default ADD CONSTRAINT "${DEFAULT_EXCLUDES_CHECK}" CHECK (season_id <> 999) NOT VALID`,
    );
    const snapshot = await inspect(t.db, [leaderboardFamily]);
    const anomalies = snapshot.families[0]?.anomalies.filter(
      (a) => a.kind === 'leftover-default-check',
    );
    expect(anomalies?.map((a) => a.partition)).toEqual(['leaderboard_run_default']);
    const result = await apply(t.db, {
      families: [leaderboardFamily],
      retention: false,
      executors: { drain: async () => 'not drained in this test' },
    });
    expect(result.results.filter((r) => r.outcome === 'failed')).toEqual([]);
    expect(await leftoverChecks()).toEqual([]);
  });

  it('leaves a DEFAULT pgparts does not own as it is: its ATTACH scans it', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (305, 'S305')`;
    await ensureOwnership(t.db, leaderboardFamily);
    await t.sql`DELETE FROM pgparts_owned_tables WHERE name = 'leaderboard_run_default'`;
    const steps = await createSteps(305);
    const byTable = new Map(steps.map((s) => [s.tables[0], s]));
    expect(byTable.get('leaderboard_run')?.prepare).toBeUndefined();
    expect(byTable.get('leaderboard_run')?.sql.join('\n')).not.toContain(DEFAULT_EXCLUDES_CHECK);
    expect(byTable.get('run_group_member')?.prepare).toHaveLength(2);
  });
});
