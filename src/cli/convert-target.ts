import { resolve } from 'node:path';
import { parseFamily } from '../define/spec.js';
import { builtInTargets } from '../domains/presets.js';
import { PgpartsError } from '../errors.js';
import { loadAppConfig } from '../migrations/app-config.js';
import { type ConversionTarget, conversionTarget } from '../ops/convert/target.js';
import { cliCwd } from './io.js';

/**
 * The family `pgparts convert <family>` converts: one the config exports in `conversions`
 * (`conversionTarget({ family, tables })`: an app's own), else a built-in one. Each exported
 * target is checked again as conversionTarget checks it (the Drizzle tables are the family's).
 */
export async function convertTarget(
  name: string,
  configFile: string | undefined,
): Promise<ConversionTarget> {
  const own =
    configFile && !configFile.endsWith('.json')
      ? (await loadAppConfig(resolve(cliCwd(), configFile))).conversions
      : [];
  const targets = own.map((entry, i) => checkedTarget(entry, i, configFile ?? ''));
  const found =
    targets.find((t) => t.family.name === name) ??
    builtInTargets.find((t) => t.family.name === name);
  if (found) return found;
  const known = [...targets, ...builtInTargets].map((t) => t.family.name);
  throw new PgpartsError(
    'invalid-input',
    `pgparts: no family ${JSON.stringify(name)} to convert; known: ${known.join(', ')}. ` +
      'For a family of your own, export `conversions` from pgparts.config: ' +
      '[conversionTarget({ family, tables: [the Drizzle tables] })]',
  );
}

function checkedTarget(entry: unknown, i: number, file: string): ConversionTarget {
  const input = entry as Partial<ConversionTarget> | undefined;
  if (!input || typeof input !== 'object' || !input.family || !Array.isArray(input.tables)) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: ${file}: conversions[${i}] is not a conversion target; make each with ` +
        'conversionTarget({ family, tables })',
    );
  }
  return conversionTarget({
    family: parseFamily(input.family),
    tables: input.tables,
    ...(input.extras ? { extras: input.extras } : {}),
  });
}
