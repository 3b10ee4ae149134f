import { sqlStateOf } from '../errors.js';

/**
 * PostgreSQL errors as they reach us: postgres.js and node-postgres put the SQLSTATE on `code`,
 * and Drizzle 0.45 wraps driver errors in a DrizzleQueryError whose `cause` is the driver's.
 */

/** lock_not_available: a statement gave up waiting for a lock (lock_timeout). */
export const LOCK_NOT_AVAILABLE = '55P03';

/** The SQLSTATE of an error or of any error in its `cause` chain; undefined when there is none. */
export const pgErrorCode = sqlStateOf;

/** The server's own message: the driver error's, not Drizzle's "Failed query: ..." wrapper. */
export function pgErrorMessage(error: unknown): string {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth += 1) {
    if (typeof (current as { code?: unknown }).code === 'string' && current instanceof Error) {
      return current.message;
    }
    current = (current as { cause?: unknown }).cause;
    if (current instanceof Error) message = current.message;
  }
  return message;
}

export function isLockNotAvailable(error: unknown): boolean {
  return pgErrorCode(error) === LOCK_NOT_AVAILABLE;
}
