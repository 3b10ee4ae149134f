import { z } from 'zod';
import { type FamilySpec, loadingConfig, parseEach } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { identifierSchema } from '../sql/identifiers.js';
import { loadModule } from './load-module.js';

/**
 * An app's `pgparts.config.ts`: its partition families (made with `partitionFamily` next to the
 * Drizzle tables; presets such as `builtInFamilies` may be spread in), plus what its migrations
 * need that Drizzle cannot declare. Either named exports or a default export of this shape.
 */
export interface PgpartsConfig {
  families: FamilySpec[];
  /** Extensions the schema needs, created (IF NOT EXISTS) in a migration before the tables. */
  extensions?: string[];
  /**
   * DDL Drizzle cannot express (INCLUDE indexes, materialized views, ...), by name. Each is
   * written into a migration once, when its name is new; a changed one is refused (write a new
   * object, or a migration of your own, for the change).
   */
  objects?: SqlObject[];
  /** `migrate` also applies pgparts's own migrations (the built-in leaderboard/killmail tables). */
  packageMigrations?: boolean;
  /**
   * What `pgparts convert <family>` converts besides the built-in families: each made with
   * `conversionTarget({ family, tables })`, the family's spec and its Drizzle tables.
   */
  conversions?: unknown[];
}

export interface SqlObject {
  name: string;
  sql: string[];
}

const configSchema = z
  .object({
    families: z.array(z.unknown()).min(1, 'export at least one family'),
    extensions: z.array(identifierSchema).default([]),
    objects: z
      .array(z.object({ name: z.string().min(1), sql: z.array(z.string().min(1)).min(1) }).strict())
      .default([]),
    packageMigrations: z.boolean().default(false),
    // Checked where they are used (cli/convert-target.ts): conversion targets are not the
    // migrations' concern.
    conversions: z.array(z.unknown()).default([]),
  })
  .strict();

export interface LoadedConfig {
  path: string;
  families: FamilySpec[];
  extensions: string[];
  objects: SqlObject[];
  packageMigrations: boolean;
  conversions: unknown[];
}

/** Identity, for typing: `export default definePgpartsConfig({ families: [...] })`. */
export function definePgpartsConfig(config: PgpartsConfig): PgpartsConfig {
  return config;
}

export function parseConfig(path: string, input: unknown): LoadedConfig {
  const families = (input as { families?: unknown } | undefined)?.families;
  if (!Array.isArray(families) || families.length === 0) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: ${path} must export \`families\`: a non-empty array of partition specs`,
    );
  }
  const result = configSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map(
      (i) => `  - ${i.path.join('.') || '(config)'}: ${i.message}`,
    );
    throw new PgpartsError(
      'invalid-config',
      `pgparts: invalid config ${path}:\n${lines.join('\n')}`,
    );
  }
  const parsed = parseEach(result.data.families);
  const names = new Set<string>();
  for (const object of result.data.objects) {
    if (names.has(object.name))
      throw new PgpartsError(
        'invalid-config',
        `pgparts: ${path}: object ${object.name} is declared twice`,
      );
    names.add(object.name);
  }
  return { path, ...result.data, families: parsed };
}

/** Loads pgparts.config.ts (or .js/.mjs): named exports, or a default export of the same shape. */
export async function loadAppConfig(path: string): Promise<LoadedConfig> {
  const module = await loadingConfig(() => loadModule(path));
  const fromDefault =
    module.default && typeof module.default === 'object' && !Array.isArray(module.default)
      ? (module.default as Record<string, unknown>)
      : undefined;
  const source = module.families !== undefined ? module : (fromDefault ?? module);
  if (Array.isArray(module.default) && module.families === undefined) {
    return parseConfig(path, { families: module.default });
  }
  const picked: Record<string, unknown> = {};
  for (const key of ['families', 'extensions', 'objects', 'packageMigrations', 'conversions']) {
    if (source[key] !== undefined) picked[key] = source[key];
  }
  return parseConfig(path, picked);
}
