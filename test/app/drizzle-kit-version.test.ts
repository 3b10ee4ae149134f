import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { drizzleKitBin, drizzleKitVersion } from '../../src/migrations/drizzle-kit.js';
import { generate } from '../../src/migrations/generate.js';
import { fixtureApp } from '../support/fixture-app.js';
import { folderText } from '../support/migration-folder.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';

/**
 * generate reads what drizzle-kit writes and prints; a release of another shape (1.0 lays its
 * migrations folder out differently) is refused before anything runs or is written.
 */
const root = resolve(import.meta.dirname, '..', '..');
const app = fixtureApp({ withMigrations: true });
afterAll(() => app.remove());
const out = join(app.dir, 'drizzle');

describe('the drizzle-kit generate runs', () => {
  it("reads the version of the app's drizzle-kit from its package", () => {
    const installed = JSON.parse(
      readFileSync(join(root, 'node_modules', 'drizzle-kit', 'package.json'), 'utf8'),
    ).version;
    expect(drizzleKitVersion(drizzleKitBin(app.dir))).toBe(installed);
    expect(installed).toMatch(/^0\.31\./);
  });

  it('refuses another release before running it, and writes nothing', async () => {
    // The app's drizzle-kit replaced by a 1.0 beta whose bin leaves a mark if it is ever run.
    const kit = join(app.dir, 'node_modules', 'drizzle-kit');
    rmSync(kit, { recursive: true, force: true });
    mkdirSync(kit);
    writeFileSync(
      join(kit, 'package.json'),
      JSON.stringify({
        name: 'drizzle-kit',
        version: '1.0.0-beta.2',
        main: './index.cjs',
        bin: './bin.cjs',
      }),
    );
    // What the app's drizzle.config imports from it.
    writeFileSync(join(kit, 'index.cjs'), 'exports.defineConfig = (config) => config;\n');
    const mark = join(app.dir, 'drizzle-kit-ran');
    writeFileSync(
      join(kit, 'bin.cjs'),
      `#!/usr/bin/env node\nrequire('node:fs').writeFileSync(${JSON.stringify(mark)}, '');\n`,
      { mode: 0o755 },
    );
    const before = folderText(out);
    for (const check of [false, true]) {
      const error = await rejection(generate({ cwd: app.dir, config: 'pgparts.config.ts', check }));
      expectPgpartsError(error, 'migration', {
        message:
          /drizzle-kit 1\.0\.0-beta\.2 is installed .*drizzle-kit \^0\.31\.0.*npm install -D drizzle-kit@\^0\.31\.0\); nothing was written/s,
      });
      expect(folderText(out)).toEqual(before);
      expect(existsSync(mark)).toBe(false);
    }
  });
});
