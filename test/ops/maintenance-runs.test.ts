import { describe, expect, it } from 'vitest';
import { MAINTENANCE_RUNS_TABLE, readMaintenanceRuns } from '../../src/catalog/maintenance-runs.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { apply } from '../../src/run/apply.js';
import { pgparts } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

describe('maintenance runs', () => {
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
});
