import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/migrations/generate.js';
import { fixtureApp } from '../support/fixture-app.js';
import { useTestDatabase } from '../support/test-database.js';
import { pgparts } from './run-cli.js';

/**
 * A monorepo: examples/app (with its committed migrations) as packages/db, the commands run from
 * the repository root. generate and migrate find drizzle.config next to the named pgparts config
 * and read its `out` and `schema` from the drizzle.config's folder, --drizzle-config or not.
 */
const root = mkdtempSync(join(tmpdir(), 'pgparts-mono-'));
const app = fixtureApp({ withMigrations: true });
const pkg = join(root, 'packages', 'db');
mkdirSync(join(root, 'packages'));
renameSync(app.dir, pkg);
// The fixture's .bin link names its old folder.
const bin = join(pkg, 'node_modules', '.bin', 'drizzle-kit');
rmSync(bin);
symlinkSync(join(pkg, 'node_modules', 'drizzle-kit', 'bin.cjs'), bin);
afterAll(() => rmSync(root, { recursive: true, force: true }));
const t = useTestDatabase({ migrated: false });

const config = 'packages/db/pgparts.config.ts';
const drizzleConfig = 'packages/db/drizzle.config.ts';

async function appTables(): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    ORDER BY 1`;
  return rows.map((r) => r.name);
}

describe('a monorepo: packages/db named from the root', { timeout: 120_000 }, () => {
  it('generate --check finds drizzle.config next to the pgparts config, and reads it from there with --drizzle-config', async () => {
    const found = await generate({ cwd: root, config, check: true });
    expect(found).toEqual({ written: [], stale: [], out: join(pkg, 'drizzle') });
    const named = await generate({ cwd: root, config, drizzleConfig, check: true });
    expect(named).toEqual({ written: [], stale: [], out: join(pkg, 'drizzle') });
  });

  it("migrate --drizzle-config applies the package's folder, not one read from the current folder", async () => {
    const run = await pgparts(
      t.url,
      '--config',
      join(root, config),
      'migrate',
      '--drizzle-config',
      join(root, drizzleConfig),
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/applied app 0000_breezy_patch .*\n.*applied app 0001_partitions/);
    expect(await appTables()).toEqual(['accounts', 'app_events', 'region_orders']);
    const again = await pgparts(t.url, '--config', join(root, config), 'migrate');
    expect(again.stdout).toContain('nothing pending');
  });
});
