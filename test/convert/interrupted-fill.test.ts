import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertVerify,
  formatVerifyReport,
  readConversionState,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { leaderboardSides } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const RUNS = 3_000;
const MEMBERS = RUNS * 5;

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: RUNS, seasons: 3 });
  await convertPrep(t.db, target);
  await convertBackfill(t.db, target);
});

describe('a fill whose backend is killed', () => {
  let copiedBeforeKill = 0;

  it('fails, having committed only whole batches', async () => {
    const filler = t.connect({
      max: 1,
      connection: { application_name: 'pgparts_fill_under_test' },
    });
    const killer = t.connect({ max: 1 });
    let killed = false;
    const fill = convertFill(drizzle(filler), target, {
      batchSize: 1_000,
      onProgress: async (p) => {
        // Once some members are copied (the first blocks hold only the versions backfill replaced).
        if (p.step !== 'fill' || p.table !== 'run_group_member' || p.done === 0 || killed) return;
        killed = true;
        const terminated = await killer`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
                                        WHERE datname = current_database() AND application_name = 'pgparts_fill_under_test'`;
        expect(terminated.map((k) => k.ok)).toEqual([true]);
      },
    });
    // The server ends the connection: the driver reports it one way or another.
    await expect(fill).rejects.toThrow(
      /administrator command|CONNECTION_(CLOSED|ENDED|DESTROYED)|ECONNRESET/,
    );
    expect(killed).toBe(true);
    const state = await readConversionState(t.db, target.family);
    const progress = state?.progress['fill.run_group_member'] as { copied: number; done: boolean };
    expect(progress.done).toBe(false);
    expect(progress.copied).toBeGreaterThan(0);
    expect(progress.copied).toBeLessThan(MEMBERS);
    copiedBeforeKill = progress.copied;
    const [counts] = await t.sql`SELECT
      (SELECT count(*)::int FROM pgparts_leaderboard_new.leaderboard_run) AS runs,
      (SELECT count(*)::int FROM pgparts_leaderboard_new.run_group_member) AS members`;
    expect(counts).toEqual({ runs: RUNS, members: copiedBeforeKill });
  });

  it('rerun continues where it stopped: no duplicates, no gaps, identical rows', async () => {
    const rerun = await convertFill(t.db, target, { batchSize: 1_000 });
    expect(rerun.rowsCopied).toBe(MEMBERS - copiedBeforeKill); // the runs were not copied twice
    const [counts] = await t.sql`SELECT
      (SELECT count(*)::int FROM pgparts_leaderboard_new.run_group_member) AS members,
      (SELECT count(DISTINCT (run_guid, character_name))::int FROM pgparts_leaderboard_new.run_group_member) AS distinct_members`;
    expect(counts).toEqual({ members: MEMBERS, distinct_members: MEMBERS });
    const sides = await leaderboardSides(t.sql);
    expect(sides.twin).toEqual(sides.legacy);
    const report = await convertVerify(t.db, target);
    expect(report.ok, formatVerifyReport(report)).toBe(true);
  });
});
