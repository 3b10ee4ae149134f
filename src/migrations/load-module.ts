import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createJiti } from 'jiti';

/**
 * Loads an app's config module (`pgparts.config.ts`, `drizzle.config.ts`, or .js/.mjs/.cjs) from
 * the compiled CLI. TypeScript needs a loader at run time; jiti is the one: a single package
 * without dependencies, maintained by the unjs project and used the same way by Nuxt, Tailwind
 * and ESLint for their TS configs, and it resolves the config's own imports (the app's schema,
 * drizzle-orm, pgparts) from the app's node_modules. The module cache is off so a config edited
 * between two calls in one process (tests, watch scripts) is read again; its transform cache
 * (keyed by file content) stays on.
 */
export async function loadModule(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file);
  if (!existsSync(path)) throw new Error(`pgparts: ${file} not found`);
  const jiti = createJiti(import.meta.url, { moduleCache: false });
  const loaded = await jiti.import(path);
  return (loaded && typeof loaded === 'object' ? loaded : { default: loaded }) as Record<
    string,
    unknown
  >;
}
