import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type FamilySpec, parseFamilies } from '../define/spec.js';
import { builtInFamilies } from '../domains/presets.js';
import { isPgpartsError, PgpartsError } from '../errors.js';
import { loadAppConfig } from '../migrations/app-config.js';
import { cliCwd } from './io.js';

/**
 * `--config <file>`: the families the CLI works on instead of the package's own two. The file
 * exports `families` (or a default export of `{ families }` or of the array): specs made with
 * `partitionFamily` next to Drizzle tables, or plain objects. `.json` is read as it is;
 * `.ts`/`.mts`/`.cts`/`.js`/`.mjs`/`.cjs` load through jiti (migrations/load-module.ts). Every spec is validated before the
 * database is touched.
 */
export async function loadFamilies(file: string | undefined): Promise<FamilySpec[]> {
  if (!file) return [...builtInFamilies];
  try {
    return await readFamilies(file);
  } catch (error) {
    // Every config error names the file, whatever part of loading it failed.
    const reason = (error instanceof Error ? error.message : String(error)).replace(
      /^pgparts: /,
      '',
    );
    const named = reason.includes(file) || reason.includes(resolve(cliCwd(), file));
    if (named && isPgpartsError(error)) throw error;
    throw new PgpartsError('invalid-config', named ? reason : `config file ${file}: ${reason}`, {
      cause: error,
    });
  }
}

async function readFamilies(file: string): Promise<FamilySpec[]> {
  const path = resolve(cliCwd(), file);
  if (!existsSync(path)) throw new PgpartsError('invalid-config', `config file ${file} not found`);
  let loaded: unknown;
  if (path.endsWith('.json')) {
    try {
      loaded = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new PgpartsError(
        'invalid-config',
        `config file ${file} is not valid JSON: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } else {
    return parseFamilies((await loadAppConfig(path)).families);
  }
  const families = pickFamilies(loaded);
  if (!Array.isArray(families) || families.length === 0) {
    throw new PgpartsError(
      'invalid-config',
      `config file ${file} must export \`families\`: a non-empty array of partition specs`,
    );
  }
  return parseFamilies(families);
}

function pickFamilies(loaded: unknown): unknown {
  if (Array.isArray(loaded)) return loaded;
  if (!loaded || typeof loaded !== 'object') return undefined;
  const module = loaded as { families?: unknown; default?: unknown };
  if (module.families !== undefined) return module.families;
  if (module.default !== undefined) return pickFamilies(module.default);
  return undefined;
}
