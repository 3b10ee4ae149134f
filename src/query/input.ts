import type { z } from 'zod';
import { PgpartsError } from '../errors.js';

/**
 * Parses a query's input with its zod schema. On bad input nothing runs: the error names the
 * query and every offending field, so the caller knows what to fix.
 */
export function parseQueryInput<S extends z.ZodType>(
  query: string,
  schema: S,
  input: unknown,
): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(input)';
    return `  - ${path}: ${issue.message}`;
  });
  throw new PgpartsError(
    'invalid-input',
    `pgparts: invalid input for ${query}:\n${lines.join('\n')}`,
  );
}
