import { beforeAll, describe, expect, it } from 'vitest';
import { readOperations } from '../../src/catalog/operations.js';
import { readUnfinished } from '../../src/catalog/unfinished.js';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertVerify,
  formatVerifyReport,
  pendingAfterSwitch,
  readConversionState,
} from '../../src/ops/convert/index.js';
import { WHOLE_FAMILY_KEY, withKeyOperation } from '../../src/run/key-lock.js';
import { pgparts as runPgparts } from '../cli/run-cli.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const family = target.family;

const pgparts = (...args: string[]) => runPgparts(undefined, '--database-url', t.url, ...args);

/** The backend running a REFRESH of slow_totals, once the server shows it running. */
async function refreshingBackend(): Promise<number> {
  for (let i = 0; i < 1_000; i++) {
    const [row] = await t.sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND state = 'active' AND query LIKE 'REFRESH MATERIALIZED VIEW%slow_totals%'`;
    if (row) return row.pid;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no REFRESH of slow_totals was seen');
}

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 600, seasons: 2 });
  // A materialized view whose refresh takes 1.5 s (its sleep is evaluated once per refresh).
  await t.sql.unsafe(`CREATE MATERIALIZED VIEW slow_totals AS
    SELECT season_id, count(*)::int AS runs, (SELECT 1 FROM pg_sleep(1.5)) AS slept
    FROM leaderboard_run GROUP BY season_id`);
});

describe('a conversion is one recorded operation on the family', () => {
  it('prep records it in pgparts_operations; a key operation of the family is refused', async () => {
    await convertPrep(t.db, target);
    const [op] = await readOperations(t.db, family);
    expect(op).toMatchObject({
      key: WHOLE_FAMILY_KEY,
      operation: 'convert',
      phase: 'prepped',
      running: false,
    });
    const retire = rejection(withKeyOperation(t.db, family, '2', 'retire', async () => 'ran'));
    expectPgpartsError(await retire, 'busy', {
      message: /unfinished convert.*`pgparts convert leaderboard --all`/,
    });
  });
});

describe('a swap interrupted during its REFRESH after the commit', () => {
  it('leaves the switch recorded with the refresh still to do', async () => {
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    const swap = convertSwap(t.db, target).catch((e: unknown) => e);
    const pid = await refreshingBackend();
    // Cancelled: the swap's run ends there (a crash of the whole server: test/crash/*).
    await t.sql`SELECT pg_cancel_backend(${pid})`;
    expect(String(await swap)).toMatch(/REFRESH MATERIALIZED VIEW/);
    const state = await readConversionState(t.db, family);
    expect(state?.step).toBe('swapped');
    expect(pendingAfterSwitch(state)?.refresh).toEqual(['slow_totals']);
    const [op] = await readOperations(t.db, family);
    expect(op).toMatchObject({ operation: 'convert', phase: 'swap: after the switch' });
  });

  it('verify does not say OK while the refresh is unfinished', async () => {
    const report = await convertVerify(t.db, target);
    expect(report.ok).toBe(false);
    expect(report.unfinished).toBe('REFRESH "public"."slow_totals"');
    expect(formatVerifyReport(report)).toMatch(/^verify leaderboard: NOT FINISHED/);
    const cli = await pgparts('convert', 'leaderboard', 'verify');
    expect(cli.code).toBe(1);
  });

  it('is among the unfinished operations status reads (and --check fails on)', async () => {
    const work = await readUnfinished(t.db, family);
    expect(work.operations).toMatchObject([
      { key: WHOLE_FAMILY_KEY, operation: 'convert', phase: 'swap: after the switch' },
    ]);
  });

  it('convert --all finishes it: the view is refreshed, verify passes, cleanup ends the record', async () => {
    await t.sql`INSERT INTO leaderboard_run (run_guid, season_id) VALUES (gen_random_uuid(), 2)`;
    const all = await pgparts('convert', 'leaderboard', '--all');
    expect(all.stderr).toBe('');
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/finished the work left after an interrupted switch/);
    expect(all.stdout).toMatch(/verify leaderboard: OK/);
    const [mv] = await t.sql`SELECT (SELECT sum(runs)::int FROM slow_totals) AS view_runs,
      (SELECT count(*)::int FROM leaderboard_run) AS runs`;
    expect(mv?.view_runs).toBeGreaterThan(0);
    expect(pendingAfterSwitch(await readConversionState(t.db, family))).toBeNull();
    await convertCleanup(t.db, target);
    expect(await readOperations(t.db, family)).toEqual([]);
    // The family's keys are free again.
    expect(await withKeyOperation(t.db, family, '2', 'retire', async () => 'ran')).toBe('ran');
  });
});
