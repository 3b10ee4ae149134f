import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package-root.js';

/** The names a config is found by in the folder a command runs in, in this order. */
export const CONFIG_FILES = [
  'pgparts.config.ts',
  'pgparts.config.mts',
  'pgparts.config.mjs',
  'pgparts.config.js',
  'pgparts.config.cts',
  'pgparts.config.cjs',
  'pgparts.config.json',
] as const;

/** The first of CONFIG_FILES in `cwd`, if any. */
export function configFileIn(cwd: string): string | undefined {
  return CONFIG_FILES.map((name) => join(cwd, name)).find((path) => existsSync(path));
}

/**
 * The config a command uses without `--config`: the first of CONFIG_FILES in `cwd`, as
 * `generate` has always read `pgparts.config.ts`. Every command reads the same one, so `migrate`
 * in an app's folder applies the app's migrations, never pgparts's own tables beside them. None
 * found (or only this package's own, in its own folder): the built-in leaderboard and killmail
 * families.
 */
export function defaultConfigFile(cwd: string): string | undefined {
  if (isPackageRoot(cwd)) return undefined;
  return configFileIn(cwd);
}

/** This package's own folder, where the built-in families are the point, not a fallback. */
export function isPackageRoot(cwd: string): boolean {
  return resolve(cwd) === resolve(packageRoot());
}

/** What was looked for in `cwd`, for messages. */
export function configNamesTried(cwd: string): string {
  return `no pgparts config in ${cwd} (looked for ${CONFIG_FILES.join(', ')})`;
}
