import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

const root = resolve(import.meta.dirname, '..', '..');

export interface FixtureApp {
  dir: string;
  remove(): void;
}

/**
 * A copy of examples/app (without its drizzle/ folder, so generate starts from nothing) in a
 * temporary folder, with node_modules as an install would give it: drizzle-orm, drizzle-kit and
 * postgres (and pgparts's own dependencies) linked from this repository's, and `pgparts` a package whose entry is this
 * repository's src/index.ts bundled by esbuild (no build of dist/ needed). The packed
 * install itself is test/packaging/packed-install.test.ts.
 */
export function fixtureApp(options: { withMigrations?: boolean } = {}): FixtureApp {
  const dir = mkdtempSync(join(tmpdir(), 'pgparts-app-'));
  const migrations = join(root, 'examples', 'app', 'drizzle');
  cpSync(join(root, 'examples', 'app'), dir, {
    recursive: true,
    filter: (src) =>
      !src.includes('node_modules') &&
      (options.withMigrations || (src !== migrations && !src.startsWith(`${migrations}/`))),
  });
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '.bin'), { recursive: true });
  for (const dep of ['drizzle-orm', 'drizzle-kit', 'postgres', 'zod', 'jiti', 'commander']) {
    symlinkSync(join(root, 'node_modules', dep), join(modules, dep));
  }
  symlinkSync(join(modules, 'drizzle-kit', 'bin.cjs'), join(modules, '.bin', 'drizzle-kit'));
  const pgparts = join(modules, 'pgparts');
  mkdirSync(pgparts);
  writeFileSync(
    join(pgparts, 'package.json'),
    JSON.stringify({ name: 'pgparts', type: 'module', exports: { '.': './index.js' } }),
  );
  // One bundled file of this repository's src/index.ts: loaders transform one file, not each
  // of the ~100 source files on every config load.
  buildSync({
    entryPoints: [join(root, 'src', 'index.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: join(pgparts, 'index.js'),
    logLevel: 'error',
  });
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
