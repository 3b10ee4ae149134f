import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The names a config is found by in the folder a command runs in, in this order. */
export const CONFIG_FILES = [
  'pgparts.config.ts',
  'pgparts.config.mts',
  'pgparts.config.mjs',
  'pgparts.config.js',
  'pgparts.config.json',
] as const;

/** This package's own folder (src/cli or dist/cli, two levels up). */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The config a command uses without `--config`: the first of CONFIG_FILES in `cwd`, as
 * `generate` has always read `pgparts.config.ts`. Every command reads the same one, so `migrate`
 * in an app's folder applies the app's migrations, never pgparts's own tables beside them. None
 * found (or only this package's own, in its own folder): the built-in leaderboard and killmail
 * families.
 */
export function defaultConfigFile(cwd: string): string | undefined {
  if (resolve(cwd) === resolve(PACKAGE_ROOT)) return undefined;
  return CONFIG_FILES.map((name) => join(cwd, name)).find((path) => existsSync(path));
}
