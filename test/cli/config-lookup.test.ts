import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/test-database.js';
import { pgpartsIn } from './run-cli.js';

/**
 * The config a command finds without --config, run in an app's folder: every name tried is
 * named when none is found, a CommonJS `pgparts.config.cjs` is found, and the fallback to the
 * built-in families is said on stderr (migrate there creates 70+ tables in the app's database).
 */
const t = useTestDatabase();
const empty = mkdtempSync(join(tmpdir(), 'pgparts-noconfig-'));
const cjsApp = mkdtempSync(join(tmpdir(), 'pgparts-cjsconfig-'));
afterAll(() => {
  rmSync(empty, { recursive: true, force: true });
  rmSync(cjsApp, { recursive: true, force: true });
});
const tried =
  'pgparts.config.ts, pgparts.config.mts, pgparts.config.mjs, pgparts.config.js, ' +
  'pgparts.config.cts, pgparts.config.cjs, pgparts.config.json';

describe('finding pgparts.config in the folder a command runs in', () => {
  it('says on stderr that it uses the built-in families when there is none', async () => {
    const run = await pgpartsIn(empty, t.url, 'status');
    expect(run.stderr).toBe(
      `pgparts: no pgparts config in ${empty} (looked for ${tried}); using the built-in leaderboard and killmail families (name yours with --config)\n`,
    );
    expect(run.stdout).toContain('leaderboard_run');
  });

  it('generate without one names every file it looked for', async () => {
    const run = await pgpartsIn(empty, undefined, 'generate');
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      `pgparts: generate: no pgparts config in ${empty} (looked for ${tried}); name it with --config\n`,
    );
  });

  it('finds pgparts.config.cjs', async () => {
    await t.sql.unsafe(`CREATE TABLE cjs_events (
      id bigserial NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    writeFileSync(
      join(cjsApp, 'pgparts.config.cjs'),
      `module.exports = { families: [{ name: 'cjs_events', tables: ['cjs_events'],
         partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 2 } }] };\n`,
    );
    const run = await pgpartsIn(cjsApp, t.url, 'status');
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('cjs_events: RANGE by at, one month each, premake 2');
    expect(run.stdout).not.toContain('leaderboard_run');
  });
});
