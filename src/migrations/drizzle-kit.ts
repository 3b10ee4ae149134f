import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PgpartsError } from '../errors.js';
import { foldersUp } from '../package-root.js';

/**
 * drizzle-kit is the app's own dependency: its bin is found in the app's node_modules (walking up
 * from the app folder, as npm exec would) and run from the app folder. drizzle-kit can print an
 * error and still exit 0 (a schema file that fails to load, for one), so success is read from
 * what it says it did, and anything else is an error carrying its output.
 */
export function drizzleKitBin(cwd: string): string {
  for (const dir of foldersUp(cwd)) {
    const bin = join(dir, 'node_modules', '.bin', 'drizzle-kit');
    if (existsSync(bin)) return bin;
  }
  throw new PgpartsError(
    'migration',
    `pgparts: drizzle-kit is not installed in ${cwd} (npm install -D drizzle-kit); pgparts generate runs it`,
  );
}

/**
 * The drizzle-kit releases whose files and output generate reads: its journal and snapshots, the
 * lines it prints, `--custom`. 0.31 is the release pgparts is built and tested with; another one
 * may lay out its folder or word its output otherwise, and generate would then misread it.
 */
export const SUPPORTED_DRIZZLE_KIT = '^0.31.0';

/** The version in the package.json of the drizzle-kit `bin` belongs to; undefined if none is found. */
export function drizzleKitVersion(bin: string): string | undefined {
  // The bin links to the package's own file: its package.json is in that folder or above it.
  for (const dir of foldersUp(dirname(realpathSync(bin)))) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (manifest.name === 'drizzle-kit' && typeof manifest.version === 'string')
        return manifest.version;
    }
  }
  return undefined;
}

/**
 * Refuses, before generate writes anything, a drizzle-kit outside SUPPORTED_DRIZZLE_KIT. One
 * whose version cannot be read (no package.json beside its bin) is run as found.
 */
export function checkDrizzleKitVersion(cwd: string): void {
  const bin = drizzleKitBin(cwd);
  const version = drizzleKitVersion(bin);
  if (version === undefined || /^0\.31\./.test(version)) return;
  throw new PgpartsError(
    'migration',
    `pgparts: drizzle-kit ${version} is installed (${bin}); pgparts generate reads the files and ` +
      `output of drizzle-kit ${SUPPORTED_DRIZZLE_KIT}, and another release may lay out its ` +
      'migrations folder or word its output otherwise. Install a supported one ' +
      `(npm install -D drizzle-kit@${SUPPORTED_DRIZZLE_KIT}); nothing was written.`,
  );
}

/**
 * drizzle-kit asks, in a terminal, whether a column, table or schema that disappeared while
 * another appeared was renamed or is new; pgparts runs it without a terminal (its output is read),
 * so it cannot ask, and prints an error instead (exit 0). Nothing was written.
 */
function renamePromptError(): PgpartsError {
  return new PgpartsError(
    'migration',
    'pgparts: drizzle-kit needs to ask whether something was renamed (a column, table or schema ' +
      'gone while another appeared), and it can only ask in a terminal; nothing was written. ' +
      'Answer it by running `npx drizzle-kit generate` yourself in a terminal, with the rename as ' +
      'the only change to the schema, then run `pgparts generate` again for the rest (a new ' +
      'partitioned table must come through pgparts generate, which adds its PARTITION BY).',
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
  if (/Interactive prompts require a TTY/.test(output)) throw renamePromptError();
  throw new PgpartsError('migration', `pgparts: ${failure(result)}:\n${output.trim()}`);
}

/** What went wrong, without claiming an exit code drizzle-kit did not give. */
function failure(result: { status: number | null; signal: string | null; error?: Error }): string {
  if (result.error) return `drizzle-kit generate could not run (${result.error.message})`;
  if (result.status === null) return `drizzle-kit generate was stopped by ${result.signal}`;
  if (result.status !== 0) return `drizzle-kit generate failed (exit ${result.status})`;
  // Exit 0, yet neither a file written nor "No schema changes": its output holds the error.
  return 'drizzle-kit generate wrote no migration; it printed';
}
