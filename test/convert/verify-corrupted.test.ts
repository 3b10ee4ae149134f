import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertVerify,
  formatVerifyReport,
} from '../../src/ops/convert/index.js';
import { status } from '../../src/plan/status.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const run = promisify(execFile);

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 1_500, seasons: 3 });
  await convertPrep(t.db, target);
  await convertBackfill(t.db, target);
  await convertFill(t.db, target, { batchSize: 400 });
});

describe('verify', () => {
  it('passes on a faithful copy', async () => {
    const report = await convertVerify(t.db, target);
    expect(report.ok, formatVerifyReport(report)).toBe(true);
    expect(report.tables.map((x) => x.legacyRows)).toEqual([1_500, 7_500]);
    expect(report.tables.map((x) => x.partitionedRows)).toEqual([1_500, 7_500]);
  });

  it('fails loudly on a deliberately corrupted copy, naming the tables and seasons', async () => {
    // Behind pgparts's back: one score changed, one member lost, in the twins.
    const [changed] =
      await t.sql`UPDATE pgparts_leaderboard_new.leaderboard_run SET score = score + 0.25
                                  WHERE id = 7 RETURNING season_id`;
    const [lost] = await t.sql`DELETE FROM pgparts_leaderboard_new.run_group_member
                               WHERE character_name = 'char_11_1' RETURNING season_id`;
    const report = await convertVerify(t.db, target, { samples: 2_000 });
    expect(report.ok).toBe(false);
    const [runs, members] = report.tables;
    // Same count, different checksum: only a checksum catches an edited row.
    expect(runs?.differences).toEqual([
      {
        key: String(changed?.season_id),
        legacy: { rows: 500, checksum: expect.any(String) },
        partitioned: { rows: 500, checksum: expect.any(String) },
      },
    ]);
    expect(runs?.differences[0]?.legacy?.checksum).not.toBe(
      runs?.differences[0]?.partitioned?.checksum,
    );
    expect(members?.differences).toHaveLength(1);
    expect(members?.differences[0]?.key).toBe(String(lost?.season_id));
    expect(members?.differences[0]?.legacy?.rows).toBe(2_500);
    expect(members?.differences[0]?.partitioned?.rows).toBe(2_499);
    // 2000 samples of 1500 runs each way: the edited run is sampled.
    expect(runs?.sampleDifferences.some((k) => k.includes('"id": 7'))).toBe(true);
    const text = formatVerifyReport(report);
    expect(text).toContain('DIFFERENCES FOUND');
    expect(text).toContain(`key ${lost?.season_id}: legacy 2500 rows`);
  });

  it('the CLI prints the differences and exits non-zero', async () => {
    // The CLI as the global setup bundled it (test/support/cli-bundle.ts), not through tsx.
    const outcome = await run(
      process.execPath,
      [inject('cliBundle'), 'convert', 'leaderboard', 'verify', '--database-url', t.url],
      { cwd: process.cwd() },
    ).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(outcome.code).toBe(1);
    expect(outcome.stdout).toContain('verify leaderboard: DIFFERENCES FOUND');
    expect(outcome.stdout).toContain('run_group_member: 7500 legacy rows, 7499 partitioned rows');
  });

  it('cleanup refuses without a passing verify after the swap, and keeps the legacy tables', async () => {
    await convertSwap(t.db, target);
    expect((await convertVerify(t.db, target)).ok).toBe(false);
    const family = target.family;
    expect(status([family], await inspect(t.db, [family])).attention.join('\n')).toMatch(
      /a conversion paused after its verify step .*; next: do not clean up: verify found differences/,
    );
    expectPgpartsError(await rejection(convertCleanup(t.db, target)), 'refused', {
      message: /no passing verify since the swap/,
      step: 'convert cleanup',
    });
    const [kept] =
      await t.sql`SELECT count(*)::int AS n FROM pgparts_leaderboard_old.leaderboard_run`;
    expect(kept?.n).toBe(1_500);
  });
});
