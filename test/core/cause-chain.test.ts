import { describe, expect, it } from 'vitest';
import { causeChain, PgpartsError, sqlStateOf } from '../../src/errors.js';
import { isConnectionLoss, isLockNotAvailable, pgErrorMessage } from '../../src/run/pg-error.js';

/**
 * Every reader of an error's `cause` chain (its SQLSTATE, the server's message, whether the
 * connection was lost) walks it through causeChain. They each had a loop of their own, some five
 * levels deep and some six: an error whose code sat sixth was a lost connection to one reader and
 * had no SQLSTATE for another.
 */

/** `inner` under `levels` plain wrappers (as Drizzle's "Failed query" error wraps the driver's). */
function wrapped(inner: Error, levels: number): Error {
  let error = inner;
  for (let i = 0; i < levels; i += 1) error = new Error(`Failed query ${i}`, { cause: error });
  return error;
}

function serverError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("an error's cause chain", () => {
  it('is followed six errors deep, the same by every reader', () => {
    const lock = serverError('55P03', 'canceling statement due to lock timeout');
    const sixth = wrapped(lock, 5);
    expect([...causeChain(sixth)]).toHaveLength(6);
    expect(sqlStateOf(sixth)).toBe('55P03');
    expect(isLockNotAvailable(sixth)).toBe(true);
    expect(pgErrorMessage(sixth)).toBe('canceling statement due to lock timeout');
    const seventh = wrapped(lock, 6);
    expect(sqlStateOf(seventh)).toBeUndefined();
    expect(isLockNotAvailable(seventh)).toBe(false);

    const terminated = wrapped(serverError('57P01', 'terminating connection'), 5);
    expect(isConnectionLoss(terminated)).toBe(true);
    expect(sqlStateOf(terminated)).toBe('57P01');
    expect(isConnectionLoss(wrapped(serverError('57P01', 'terminating connection'), 6))).toBe(
      false,
    );
  });

  it('a session the server ended for being idle, or whose database was dropped, is a lost connection', () => {
    for (const code of ['57P04', '57P05']) {
      const error = new PgpartsError('query-failed', 'pgparts: it failed', {
        cause: wrapped(serverError(code, 'terminating connection'), 1),
      });
      expect(isConnectionLoss(error), code).toBe(true);
      expect(error.sqlState).toBe(code);
    }
    expect(isConnectionLoss(serverError('57014', 'canceling statement'))).toBe(false);
  });

  it('stops at a cause that is not an object, and at a chain that loops', () => {
    expect([...causeChain(new Error('top', { cause: 'a string' }))]).toHaveLength(1);
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect([...causeChain(a)]).toHaveLength(6);
    expect(sqlStateOf(a)).toBeUndefined();
  });
});
