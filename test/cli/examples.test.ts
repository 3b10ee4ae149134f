import { describe, expect, it } from 'vitest';
import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';
import { useTestDatabase } from '../support/test-database.js';
import { runTs } from './run-cli.js';

const t = useTestDatabase();

describe('the maintenance examples run as written', () => {
  it('examples/maintain-at-startup.ts: three instances start, one works, a season is announced', async () => {
    const run = await runTs('examples/maintain-at-startup.ts', [], { DATABASE_URL: t.url });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('season 15: created leaderboard_run_s15, run_group_member_s15');
    // Exactly one instance reports what it did; the others found the lock taken or nothing to do.
    expect(run.stdout.match(/^partitions: \d+ created/gm)?.length ?? 0).toBeGreaterThanOrEqual(1);
    const [s15] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '%_s15'`;
    expect(s15?.n).toBe(2);
  });

  it('examples/maintain-cron.ts: rolls the window forward and exits 0', async () => {
    // Drop the newest premade month of all three tables, as if time had moved on by a month.
    const last = addIntervals('month', intervalStart('month', new Date()), 3);
    const suffix = intervalSuffix('month', last);
    await t.sql.unsafe(`
      DROP TABLE killmail_participants_${suffix}; DROP TABLE killmails_enriched_${suffix};
      ALTER TABLE killmails_raw DETACH PARTITION killmails_raw_${suffix}; DROP TABLE killmails_raw_${suffix};`);
    const run = await runTs('examples/maintain-cron.ts', [], { DATABASE_URL: t.url });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`create killmails_raw_${suffix}: done`);
    expect(run.stdout).toMatch(/3 done, 0 skipped, 0 failed/);
  });
});
