import { z } from 'zod';
import { isPgpartsError, PgpartsError } from '../errors.js';
import { pgErrorCode, pgErrorMessage } from '../run/pg-error.js';

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
  throw new PgpartsError('invalid-input', `invalid input for ${query}:\n${lines.join('\n')}`);
}

/**
 * Runs a query and turns a failure on the server into a `query-failed` PgpartsError that names
 * the query and carries the server's reason and SQLSTATE (the driver's error stays as `cause`).
 * PgpartsErrors (an input refused before any SQL) pass through unchanged.
 */
export async function runQuery<T>(query: string, run: () => PromiseLike<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isPgpartsError(error)) throw error;
    const code = pgErrorCode(error);
    throw new PgpartsError(
      'query-failed',
      `${query} failed: ${pgErrorMessage(error)}${code ? ` (SQLSTATE ${code})` : ''}`,
      { cause: error, step: query },
    );
  }
}

/** The range of an `integer` (int4) column. */
export const INT4_MIN = -2_147_483_648;
export const INT4_MAX = 2_147_483_647;

/** A value for an `integer` column: refused here when the column could not hold it. */
export const int4Schema = z
  .number()
  .int()
  .min(INT4_MIN, `must fit an integer column (${INT4_MIN} or more)`)
  .max(INT4_MAX, `must fit an integer column (${INT4_MAX} or less)`);

/**
 * The instants a timestamp parameter can carry: years 1 to 9999. A JavaScript Date outside them
 * is sent as an expanded-year ISO string (`+010000-01-01T...`) that the server cannot read.
 */
export function instantInRange(date: Date): boolean {
  const year = date.getUTCFullYear();
  return year >= 1 && year <= 9999;
}

export interface JsonBounds {
  /** Deepest nesting of arrays and objects; a scalar at the top is depth 0. */
  maxDepth: number;
  /** Values (objects, arrays, scalars, keys) in all. */
  maxNodes: number;
}

/**
 * Why `value` is over `bounds`, or null. Walks with its own stack (no recursion), stops at the
 * first excess, so a fragment nested thousands deep is refused without exhausting the JS stack.
 */
export function jsonBoundsProblem(value: unknown, bounds: JsonBounds): string | null {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const item = stack.pop() as { value: unknown; depth: number };
    nodes += 1;
    if (nodes > bounds.maxNodes) return `more than ${bounds.maxNodes} values`;
    if (item.value === null || typeof item.value !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > bounds.maxDepth) return `nested more than ${bounds.maxDepth} levels deep`;
    const children = Array.isArray(item.value) ? item.value : Object.values(item.value);
    if (!Array.isArray(item.value)) nodes += children.length;
    for (const child of children) stack.push({ value: child, depth });
  }
  return null;
}

/**
 * A JSON object or array within `bounds`, checked before the JSON schema walks it (zod's JSON
 * check recurses, and would overflow the stack on a deep enough value).
 */
export function boundedJsonSchema(bounds: JsonBounds) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = jsonBoundsProblem(value, bounds);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, abort: true });
    })
    .pipe(z.union([z.record(z.string(), z.json()), z.array(z.json())]));
}
