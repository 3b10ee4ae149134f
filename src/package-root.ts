import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgpartsError } from './errors.js';

let found: string | undefined;

/**
 * This package's own folder: the nearest folder above this module whose package.json is
 * pgparts's. Found by walking up rather than by a fixed `../..`, because the module sits at
 * different depths: src/ under tsx, a bundled chunk in dist/ in the package, a test's bundle in
 * .pgparts/. The package's files (drizzle/, package.json, dist/) are found from it.
 */
export function packageRoot(): string {
  if (found !== undefined) return found;
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && isPgparts(manifest)) {
      found = dir;
      return dir;
    }
    if (dirname(dir) === dir) {
      throw new PgpartsError(
        'internal',
        `no package.json named pgparts in ${start} or a folder above it: the installed package is incomplete; install it again`,
      );
    }
  }
}

function isPgparts(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'pgparts';
  } catch {
    return false;
  }
}

/** True when this module runs as TypeScript source (tsx, vitest), not as the built package. */
export function runsFromSource(): boolean {
  return fileURLToPath(import.meta.url).endsWith('.ts');
}
