import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PgpartsError } from '../errors.js';

/**
 * drizzle-kit is the app's own dependency: its bin is found in the app's node_modules (walking up
 * from the app folder, as npm exec would) and run from the app folder. drizzle-kit can print an
 * error and still exit 0 (a schema file that fails to load, for one), so success is read from
 * what it says it did, and anything else is an error carrying its output.
 */
export function drizzleKitBin(cwd: string): string {
  for (let dir = cwd; ; dir = dirname(dir)) {
    const bin = join(dir, 'node_modules', '.bin', 'drizzle-kit');
    if (existsSync(bin)) return bin;
    if (dirname(dir) === dir) break;
  }
  throw new PgpartsError(
    'migration',
    `pgparts: drizzle-kit is not installed in ${cwd} (npm install -D drizzle-kit); pgparts generate runs it`,
  );
}

export type DrizzleKitOutcome = 'wrote' | 'nothing';

export function runDrizzleKitGenerate(
  cwd: string,
  configPath: string,
  extra: readonly string[] = [],
): DrizzleKitOutcome {
  const result = spawnSync(drizzleKitBin(cwd), ['generate', '--config', configPath, ...extra], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status === 0 && /Your SQL migration file/.test(output)) return 'wrote';
  if (result.status === 0 && /No schema changes/.test(output)) return 'nothing';
  throw new PgpartsError(
    'migration',
    `pgparts: drizzle-kit generate failed (exit ${result.status ?? result.signal}):\n${output.trim()}`,
  );
}
