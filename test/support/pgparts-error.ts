import { expect } from 'vitest';
import { isPgpartsError, type PgpartsError, type PgpartsErrorCode } from '../../src/errors.js';

/** What a promise rejected with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/** What a function threw; fails the test when it returns. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw, but the function returned');
}

/**
 * Asserts a PgpartsError of `code`, and whichever of its message, table and step are given:
 * tests match on the stable code, and keep their message checks where the message carries what
 * the test is about (the field named, the rows counted).
 */
export function expectPgpartsError(
  error: unknown,
  code: PgpartsErrorCode,
  expected: { message?: RegExp | string; table?: string; step?: string } = {},
): PgpartsError {
  expect(isPgpartsError(error), `not a PgpartsError: ${String(error)}`).toBe(true);
  const e = error as PgpartsError;
  expect(e.code).toBe(code);
  if (expected.message !== undefined) expect(e.message).toMatch(expected.message);
  if (expected.table !== undefined) expect(e.table).toBe(expected.table);
  if (expected.step !== undefined) expect(e.step).toBe(expected.step);
  return e;
}
