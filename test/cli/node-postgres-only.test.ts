import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../support/test-database.js';
import { type CliRun, REPO_ROOT, runNode } from './run-cli.js';

/**
 * The bundled CLI installed where only node-postgres is: a folder whose node_modules has `pg`
 * and not `postgres` (pgparts as a package of its own beside it, the app in a folder of its own
 * without a config). --help and generate need no driver; migrate goes through pg; with neither
 * driver, the commands that connect say what to install. Each case is a separate process.
 */
const root = mkdtempSync(join(tmpdir(), 'pgparts-pg-only-'));
const modules = join(root, 'node_modules');
const pkg = join(root, 'pgparts');
const app = join(root, 'app');
mkdirSync(modules);
mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
mkdirSync(app);
for (const dep of ['pg', 'drizzle-orm', 'commander', 'zod', 'jiti']) {
  symlinkSync(join(REPO_ROOT, 'node_modules', dep), join(modules, dep));
}
// The runner finds pgparts's own migrations, and the CLI its package.json (--version), two
// folders up from the CLI, as in the package.
copyFileSync(inject('cliBundle'), join(pkg, 'dist', 'cli', 'index.mjs'));
symlinkSync(join(REPO_ROOT, 'drizzle'), join(pkg, 'drizzle'));
symlinkSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const t = useTestDatabase({ migrated: false });

function cli(args: string[], url?: string): Promise<CliRun> {
  return runNode([join(pkg, 'dist', 'cli', 'index.mjs'), ...args], { DATABASE_URL: url }, app);
}

describe('the CLI without postgres.js', () => {
  it('--help needs no driver', async () => {
    const help = await cli(['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('migrate');
  });

  it('migrate connects through node-postgres', async () => {
    const run = await cli(['migrate'], t.url);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('applied pgparts 0000_extensions');
    const [row] = await t.sql<
      { app: string }[]
    >`SELECT to_regclass('leaderboard_run')::text AS app`;
    expect(row?.app).toBe('leaderboard_run');
  });

  it('with neither driver, generate still runs and migrate says what to install', async () => {
    rmSync(join(modules, 'pg'));
    const generate = await cli(['generate']);
    expect(generate.code).toBe(1);
    expect(generate.stderr).toMatch(/^pgparts: generate: no pgparts config in /);
    const migrate = await cli(['migrate'], t.url);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain(
      'pgparts: the pgparts command connects through postgres.js or node-postgres, and neither is installed here; install one in the app: npm install postgres (or npm install pg)',
    );
  });
});
