import { mkdirSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

const root = resolve(import.meta.dirname, '..', '..');

/**
 * src/cli/index.ts bundled into one file by esbuild (the transform tsx applies, done once per
 * test run instead of on every launch: a launch through `node --import tsx` spends over a second
 * of CPU loading and transforming ~100 source files). Dependencies stay imports of this
 * repository's node_modules. The file sits two folders below the root, as src/migrations/ does,
 * so the runner's `../../drizzle` finds the same migrations. Written under a name of this
 * process's own and renamed into place: parallel runs in one checkout never read a half file.
 */
export function bundleCli(): string {
  return bundleEntry(join(root, 'src', 'cli', 'index.ts'), 'cli', 'index');
}

/**
 * A TypeScript entry point of this repository bundled as bundleCli bundles the CLI, into
 * `.pgparts/<folder>/<name>.mjs` (two folders below the root); returns the file.
 */
export function bundleEntry(entry: string, folder: string, name: string): string {
  const dir = join(root, '.pgparts', folder);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.mjs`);
  const partial = join(dir, `${name}.${process.pid}.partial.mjs`);
  buildSync({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: partial,
    logLevel: 'error',
  });
  renameSync(partial, file);
  return file;
}
