import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { STANDBY_EXIT_CODE } from '../../src/cli/standby.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { isPgpartsError } from '../../src/errors.js';
import { apply } from '../../src/run/apply.js';
import { pgparts } from '../cli/run-cli.js';
import { type Standby, startStandby } from '../support/standby.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
let standby: Standby;
let replica: postgres.Sql;

beforeAll(async () => {
  // A season without partitions: apply on the primary would have work to do.
  await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1')`;
  standby = await startStandby(inject('adminUrl'));
  replica = postgres(standby.url(t.name), { max: 1, onnotice: () => {} });
  // The copy holds this file's database and the season (taken after both were committed).
  const [row] = await replica<{ standby: boolean; seasons: number }[]>`
    SELECT pg_is_in_recovery() AS standby, (SELECT count(*)::int FROM season) AS seasons`;
  expect(row).toEqual({ standby: true, seasons: 1 });
}, 120_000);

afterAll(async () => {
  await replica?.end();
  await standby?.stop();
});

describe('on a hot standby', () => {
  it('every command that would change something says so, runs nothing and exits 3', async () => {
    const url = standby.url(t.name);
    const partitionsOnPrimary = async () =>
      (
        await t.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'leaderboard_run'::regclass`
      )[0]?.n;
    const before = await partitionsOnPrimary();
    // Six CLI processes at once: each spawns tsx, which takes seconds on a loaded machine.
    const commands: Record<string, string[]> = {
      migrate: ['migrate'],
      apply: ['apply', '--yes'],
      drain: ['drain', 'leaderboard_run', '1'],
      retire: ['retire', 'leaderboard_run', '1', '--yes'],
      reattach: ['reattach', 'leaderboard_run', '1'],
      convert: ['convert', 'leaderboard', 'prep'],
    };
    const runs = Object.fromEntries(
      await Promise.all(
        Object.entries(commands).map(async ([name, args]) => [name, await pgparts(url, ...args)]),
      ),
    ) as Record<string, Awaited<ReturnType<typeof pgparts>>>;
    for (const [command, run] of Object.entries(runs)) {
      expect(run.code, `${command}: ${run.stderr}`).toBe(STANDBY_EXIT_CODE);
      expect(run.stderr.trim()).toBe(
        `pgparts: ${command}: the server is a hot standby (pg_is_in_recovery() is true) and ` +
          'accepts no changes; nothing was done. Run it against the primary (status and plan work on a standby).',
      );
    }
    expect(await partitionsOnPrimary()).toBe(before);
    const [stillInRecovery] = await replica<{ r: boolean }[]>`SELECT pg_is_in_recovery() AS r`;
    expect(stillInRecovery?.r).toBe(true);
  }, 180_000);

  it('status, plan and apply --dry-run still work; the API refuses apply', async () => {
    const url = standby.url(t.name);
    const status = await pgparts(url, 'status');
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('leaderboard');
    const plan = await pgparts(url, 'plan');
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain(
      'ALTER TABLE "public"."leaderboard_run" ATTACH PARTITION "public"."leaderboard_run_s1" FOR VALUES IN (1)',
    );
    const dry = await pgparts(url, 'apply', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    const metrics = await pgparts(url, 'status', '--format', 'prometheus');
    expect(metrics.code, metrics.stderr).toBe(0);

    const error = await apply(drizzle(replica), { families: [...builtInFamilies] }).catch(
      (e: unknown) => e,
    );
    expect(isPgpartsError(error, 'unsupported-server')).toBe(true);
  }, 180_000);
});
