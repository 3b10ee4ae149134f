import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PgpartsError } from '../errors.js';
import { packageRoot, runsFromSource } from '../package-root.js';
import type { JournalShape } from './custom-migration.js';
import { loadModule } from './load-module.js';
import { DRIZZLE_RECORD, type MigrationRecord } from './migration-record.js';

/**
 * drizzle-kit-stand-in: as source where this code runs as source (this repository's tests), else
 * the package's own file (an entry of its own in the build, so that it stays a file of its own).
 */
function drizzleKitStandIn(): string {
  const root = packageRoot();
  const source = join(root, 'src', 'migrations', 'drizzle-kit-stand-in.ts');
  const built = join(root, 'dist', 'migrations', 'drizzle-kit-stand-in.js');
  const candidates = runsFromSource() ? [source, built] : [built, source];
  return candidates.find((path) => existsSync(path)) ?? built;
}

/** The file names drizzle-kit looks for when no --config is given, in its order. */
export const DRIZZLE_CONFIG_NAMES = [
  'drizzle.config.json',
  'drizzle.config.js',
  'drizzle.config.ts',
  'drizzle.config.mjs',
  'drizzle.config.mts',
  'drizzle.config.cjs',
  'drizzle.config.cts',
];

/**
 * The drizzle.config that goes with the pgparts config at `configPath`, as generate and migrate
 * both read it: `file` (--drizzle-config) relative to `cwd` when given, else the first of
 * drizzle-kit's names next to the pgparts config (a monorepo's packages/db/pgparts.config.ts
 * finds packages/db/drizzle.config.ts, wherever the command runs).
 */
export function loadDrizzleConfigFor(
  configPath: string,
  file: string | undefined,
  cwd: string,
): Promise<AppDrizzleConfig> {
  return loadDrizzleConfig(file ? cwd : dirname(resolve(cwd, configPath)), file);
}

/** What pgparts needs from the app's drizzle.config: where migrations go and are recorded. */
export interface AppDrizzleConfig {
  /** Absolute path of the config file. */
  path: string;
  /**
   * The folder drizzle-kit runs from: the config's own, so its relative paths (`out`, `schema`)
   * read as drizzle-kit reads them when run there, whatever folder the command runs in.
   */
  cwd: string;
  /** Absolute migrations folder (`out`). */
  out: string;
  record: MigrationRecord;
  /** How drizzle-kit names and splits its migrations there. */
  journal: JournalShape;
  /** How a column declared without a name is named in the database. */
  casing?: 'snake_case' | 'camelCase';
}

/** The config named by `file`, or the first of drizzle-kit's default names in `cwd`. */
export function findDrizzleConfig(cwd: string, file?: string): string {
  if (file) {
    const path = resolve(cwd, file);
    if (!existsSync(path))
      throw new PgpartsError('invalid-config', `pgparts: drizzle config ${file} not found`);
    return path;
  }
  for (const name of DRIZZLE_CONFIG_NAMES) {
    const path = resolve(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new PgpartsError(
    'invalid-config',
    `pgparts: no drizzle config in ${cwd} (looked for ${DRIZZLE_CONFIG_NAMES.join(', ')}); name it with --drizzle-config`,
  );
}

export async function loadDrizzleConfig(cwd: string, file?: string): Promise<AppDrizzleConfig> {
  const path = findDrizzleConfig(cwd, file);
  // Where drizzle-kit is not installed (migrate in a production image), the config's
  // `defineConfig` comes from a stand-in: migrate reads the config and never runs drizzle-kit.
  const loaded = await loadModule(path, { standIns: { 'drizzle-kit': drizzleKitStandIn() } });
  const config = (loaded.default ?? loaded) as {
    dialect?: string;
    out?: string;
    migrations?: { table?: string; schema?: string; prefix?: string };
    breakpoints?: boolean;
    casing?: 'snake_case' | 'camelCase';
  };
  if (config.dialect !== 'postgresql') {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: ${path}: dialect must be 'postgresql', not ${config.dialect}`,
    );
  }
  const runFrom = dirname(path);
  return {
    path,
    cwd: runFrom,
    out: resolve(runFrom, config.out ?? 'drizzle'),
    record: {
      schema: config.migrations?.schema ?? DRIZZLE_RECORD.schema,
      table: config.migrations?.table ?? DRIZZLE_RECORD.table,
    },
    journal: {
      prefix: config.migrations?.prefix ?? 'index',
      breakpoints: config.breakpoints ?? true,
    },
    ...(config.casing ? { casing: config.casing } : {}),
  };
}
