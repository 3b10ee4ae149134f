import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve, sep } from 'node:path';
import { isPgpartsError, PgpartsError } from '../errors.js';
import { configSyntaxError } from './syntax-error.js';

/**
 * The files jiti transformed and evaluated in this process (the app's own: config, schema; not
 * node_modules), each with a digest of the text it had when loaded (a modification time can
 * stay the same across two quick writes).
 */
const transformed = new Map<string, string>();
const requireCache = createRequire(import.meta.url).cache;

/**
 * Loads an app's config module (`pgparts.config.ts`, `drizzle.config.ts`, or .js/.mjs/.cjs) from
 * the compiled CLI. TypeScript needs a loader at run time; jiti is the one: a single package
 * without dependencies, maintained by the unjs project and used the same way by Nuxt, Tailwind
 * and ESLint for their TS configs, and it resolves the config's own imports (the app's schema,
 * drizzle-orm, pgparts) from the app's node_modules.
 *
 * Resolving and evaluating a hundred TypeScript files takes seconds, so the modules jiti
 * evaluated stay in its module cache for the next load in the same process, but only while none
 * of them changed on disk (compared by content): once one did (a config or schema edited between two calls), all of
 * them are dropped and read again, importers included. A new process reads everything afresh.
 * (In a process that loads TypeScript natively, under tsx, Node's own module cache keeps the
 * first version, as it does for a .js/.mjs config.)
 */
export async function loadModule(
  file: string,
  options: LoadModuleOptions = {},
): Promise<Record<string, unknown>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new PgpartsError('invalid-config', `pgparts: ${file} not found`);
  forgetTransformedIfChanged();
  // Loaded on demand: commands without a config file do not pay for it.
  const { createJiti } = await import('jiti');
  // tryNative: what Node loads by itself (the app's compiled dependencies, pgparts included, or
  // TypeScript when the process already has a loader) is imported natively; jiti transforms the rest.
  const alias = missingPackages(path, options.standIns ?? {});
  const jiti = createJiti(import.meta.url, {
    moduleCache: true,
    tryNative: alias === undefined,
    ...(alias ? { alias } : {}),
  });
  const before = new Set(Object.keys(requireCache));
  let loaded: unknown;
  try {
    loaded = await jiti.import(path);
  } catch (error) {
    throw configSyntaxError(path, error) ?? configLoadError(path, error);
  } finally {
    // Also when the config threw (a spec refused): the modules it left in the cache (its schema,
    // the config itself) must be read again once edited.
    for (const key of Object.keys(requireCache)) {
      if (!before.has(key) && !key.includes(`${sep}node_modules${sep}`)) {
        transformed.set(key, digest(key));
      }
    }
  }
  return (loaded && typeof loaded === 'object' ? loaded : { default: loaded }) as Record<
    string,
    unknown
  >;
}

export interface LoadModuleOptions {
  /**
   * Modules to load in place of packages the file imports that are not installed where it is
   * (package name -> file): drizzle.config's `drizzle-kit`, for commands that never run it.
   */
  standIns?: Record<string, string>;
}

/** The stand-ins for packages `path` cannot resolve from its folder; undefined when none. */
function missingPackages(
  path: string,
  standIns: Record<string, string>,
): Record<string, string> | undefined {
  const from = createRequire(path);
  const alias: Record<string, string> = {};
  for (const [name, file] of Object.entries(standIns)) {
    try {
      from.resolve(name);
    } catch {
      alias[name] = file;
    }
  }
  return Object.keys(alias).length > 0 ? alias : undefined;
}

/**
 * What a config module threw while it loaded (an import not found, an error of its own), named
 * by the file as every other config problem is; a PgpartsError (a spec refused by
 * partitionFamily) keeps its own words.
 */
function configLoadError(path: string, error: unknown): unknown {
  if (isPgpartsError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PgpartsError('invalid-config', `pgparts: config file ${path}: ${message.trim()}`, {
    cause: error,
  });
}

/** Drops every module jiti evaluated when one of them changed (or vanished) since. */
function forgetTransformedIfChanged(): void {
  const changed = [...transformed].some(([file, at]) => digest(file) !== at);
  if (!changed) return;
  for (const file of transformed.keys()) delete requireCache[file];
  transformed.clear();
}

function digest(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return 'gone';
  }
}
