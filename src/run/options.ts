import { z } from 'zod';
import { PgpartsError } from '../errors.js';

/** A function option (zod 4's z.function() is not a value schema). */
export const functionOption = z.custom<(...args: never[]) => unknown>(
  (value) => typeof value === 'function',
  'expected a function',
);

/** A Drizzle database handle, checked no further here (the driver is told apart later). */
export const databaseOption = z.custom<object>(
  (value) => typeof value === 'object' && value !== null,
  'expected a Drizzle database',
);

/** A whole number of at least `min` (ms, rows, pages, tries). */
export const wholeOption = (min: number) => z.number().int().min(min).optional();

const MEMORY_UNITS_KB: Record<string, number> = { kB: 1, MB: 1024, GB: 1024 ** 2, TB: 1024 ** 3 };

/**
 * A memory size as PostgreSQL writes one ('64MB', '1GB', '512kB'): a whole number and a unit.
 * Checked against maintenance_work_mem's range here, so a size the server would refuse stops
 * the operation before it starts, not after its copy.
 */
const MEMORY_SIZE = /^[1-9][0-9]{0,9}(kB|MB|GB|TB)$/;

export const memorySizeOption = z
  .string()
  .regex(MEMORY_SIZE, "expected a memory size such as '256MB' or '1GB'")
  .refine(
    (size) => {
      // Not a size at all: the message above says so, once.
      if (!MEMORY_SIZE.test(size)) return true;
      const kB = Number.parseInt(size, 10) * (MEMORY_UNITS_KB[size.replace(/^[0-9]+/, '')] ?? 0);
      return kB >= 1024 && kB <= 2147483647;
    },
    { message: 'expected a memory size from 1MB to 2047GB (what maintenance_work_mem accepts)' },
  );

/** What an option a user may guess from the CLI is called in the API, or how to get it. */
const HINTS: Record<string, string> = {
  dryRun:
    'the API has no dry run option: planStatements(db, families) or drainDryRun / retireDryRun show what would run',
  yes: 'the API has no yes option: allowDestructive: true runs retention',
};

/**
 * The options of `operation`, checked against `schema` before anything runs: a wrong type or an
 * unknown name (a typo, an option of the CLI) is an `invalid-config` error naming each one,
 * never ignored: `allowDestructive: 'false'` from an environment variable would otherwise be
 * truthy, and `dryRun: true` would run for real.
 */
export function checkOptions(operation: string, schema: z.ZodType, options: unknown): void {
  const parsed = schema.safeParse(options ?? {});
  if (parsed.success) return;
  const lines = parsed.error.issues.flatMap((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    if (keys.length > 0) {
      return keys.map(
        (key) => `  - ${key}: not an option of ${operation}${HINTS[key] ? ` (${HINTS[key]})` : ''}`,
      );
    }
    const path = issue.path.length > 0 ? issue.path.join('.') : '(options)';
    return [`  - ${path}: ${issue.message}`];
  });
  throw new PgpartsError(
    'invalid-config',
    `pgparts: ${operation}: invalid options, nothing was done:\n${lines.join('\n')}`,
    { step: operation },
  );
}
