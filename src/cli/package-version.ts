import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';

/**
 * This package's version, from its own package.json (packageRoot: the one above this module,
 * under tsx as in the installed package), so it is the version of the code that runs.
 */
export function packageVersion(): string {
  const path = join(packageRoot(), 'package.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}
