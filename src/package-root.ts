import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let found: string | undefined;

/**
 * This package's own folder: the nearest folder above this module whose package.json is
 * pgparts's. Found by walking up rather than by a fixed `../..`, because the module sits at
 * different depths: src/ under tsx, a bundled chunk in dist/ in the package, a test's bundle in
 * .pgparts/. The package's files (drizzle/, package.json, dist/) are found from it. Where there
 * is none (an app that bundled pgparts into its own file), two folders up, as a guess that never
 * fails at import: what then reads a missing file (migrate's own migrations) says which.
 */
export function packageRoot(): string {
  if (found !== undefined) return found;
  const start = dirname(fileURLToPath(import.meta.url));
  found = resolve(start, '..', '..');
  for (const dir of foldersUp(start)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && isPgparts(manifest)) {
      found = dir;
      break;
    }
  }
  return found;
}

/** `start`, then each folder above it, up to the file system's root: where node looks for packages. */
export function* foldersUp(start: string): Generator<string> {
  for (let dir = start; ; dir = dirname(dir)) {
    yield dir;
    if (dirname(dir) === dir) return;
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
