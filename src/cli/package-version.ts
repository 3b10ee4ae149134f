import { readFileSync } from 'node:fs';

/**
 * This package's version, from its own package.json: two folders up from this module, in src/cli
 * (tsx) as in dist/cli (the installed package), so it is the version of the code that runs.
 */
export function packageVersion(): string {
  const path = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
