import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { PgpartsError } from '../errors.js';

/**
 * Loads an app's config module (`pgparts.config.ts`, `drizzle.config.ts`, or .js/.mjs/.cjs) from
 * the compiled CLI. TypeScript needs a loader at run time; jiti is the one: a single package
 * without dependencies, maintained by the unjs project and used the same way by Nuxt, Tailwind
 * and ESLint for their TS configs, and it resolves the config's own imports (the app's schema,
 * drizzle-orm, pgparts) from the app's node_modules. Its module cache is off, so a TypeScript
 * config edited between two calls in one process is read again (in a process that loads
 * TypeScript natively, under tsx, Node's own module cache keeps the first version).
 */
export async function loadModule(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new PgpartsError('invalid-config', `pgparts: ${file} not found`);
  // Loaded on demand: commands without a config file do not pay for it.
  const { createJiti } = await import('jiti');
  // tryNative: what Node loads by itself (the app's compiled dependencies, pgparts included, or
  // TypeScript when the process already has a loader) is imported natively; jiti transforms the rest.
  const jiti = createJiti(import.meta.url, { moduleCache: false, tryNative: true });
  const loaded = await jiti.import(path);
  return (loaded && typeof loaded === 'object' ? loaded : { default: loaded }) as Record<
    string,
    unknown
  >;
}
