import { causeChain, isPgpartsError, PgpartsError, sqlStateOf } from '../errors.js';
import { CONNECTION_CODES, describeConnectionError, notConnected } from './connection-errors.js';

/**
 * PostgreSQL errors as they reach us: postgres.js and node-postgres put the SQLSTATE on `code`,
 * and Drizzle 0.45 wraps driver errors in a DrizzleQueryError whose `cause` is the driver's.
 */

/** lock_not_available: a statement gave up waiting for a lock (lock_timeout). */
export const LOCK_NOT_AVAILABLE = '55P03';

/** undefined_table: a statement names a table that does not exist (pgparts's records before first use). */
export const UNDEFINED_TABLE = '42P01';

/** insufficient_privilege: the role lacks a grant the statement needs. */
export const INSUFFICIENT_PRIVILEGE = '42501';

/** The SQLSTATE of an error or of any error in its `cause` chain; undefined when there is none. */
export const pgErrorCode = sqlStateOf;

/** The server's own message: the driver error's, not Drizzle's "Failed query: ..." wrapper. */
export function pgErrorMessage(error: unknown): string {
  // The first error with a code is the driver's; without one, the innermost error's message.
  let message = error instanceof Error ? error.message : String(error);
  for (const current of causeChain(error)) {
    if (!(current instanceof Error)) continue;
    if (typeof (current as { code?: unknown }).code === 'string') return current.message;
    message = current.message;
  }
  return message;
}

/** `text` on one line: a driver's multi-line detail, for a log line or cron's mail. */
export function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function isLockNotAvailable(error: unknown): boolean {
  return pgErrorCode(error) === LOCK_NOT_AVAILABLE;
}

/**
 * SQLSTATEs of a connection the server ended: class 08 (connection exception), and 57P01-57P05
 * (admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped, idle_session_timeout: a
 * backend terminated, a server stopping or restarting, the session ended by the server).
 */
function lostConnectionState(code: string): boolean {
  return code.startsWith('08') || /^57P0[1-5]$/.test(code);
}

/**
 * True when `error` (or any error in its cause chain) says the connection to the server was
 * lost: whatever ran on it may or may not have committed, and nothing more can run on it.
 */
export function isConnectionLoss(error: unknown): boolean {
  for (const current of causeChain(error)) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_CODES.has(code) || lostConnectionState(code)))
      return true;
    // node-postgres says it in words only.
    if (current instanceof Error && /^Connection terminated/.test(current.message)) return true;
  }
  return false;
}

/**
 * A server error met by an operation, as a `query-failed` PgpartsError naming the operation and
 * carrying the server's message and SQLSTATE (the driver's error as `cause`), a connection that
 * could not be made as a `connection` one saying where and why, and a lost connection as a
 * `connection` one (isConnectionLoss still sees both, through `cause`), so that
 * what an exported operation throws always has a `code`. PgpartsErrors pass through, as does
 * anything else without a SQLSTATE.
 */
export function asOperationError(operation: string, error: unknown): unknown {
  if (isPgpartsError(error)) return error;
  if (notConnected(error)) {
    return new PgpartsError(
      'connection',
      `pgparts: ${operation}: ${describeConnectionError(error) ?? pgErrorMessage(error)}. ` +
        'Nothing ran on that connection: run it again once the database can be reached',
      { step: operation, cause: error },
    );
  }
  if (isConnectionLoss(error)) {
    return new PgpartsError(
      'connection',
      `pgparts: ${operation}: the connection to the database was lost: ${pgErrorMessage(error)}. ` +
        'What committed stays and an open transaction was rolled back: run it again to continue',
      { step: operation, cause: error },
    );
  }
  const code = pgErrorCode(error);
  if (!code) return error;
  const statement = failedStatement(error);
  const hint = serverHint(error);
  return new PgpartsError(
    'query-failed',
    `pgparts: ${operation}: ${pgErrorMessage(error)} (SQLSTATE ${code})` +
      (statement ? `, running: ${statement}` : '') +
      (hint ? `. Hint: ${hint}` : ''),
    { step: operation, cause: error, ...(hint ? { hint } : {}) },
  );
}

/** The server's HINT for the error (what to do about it), where the driver kept one. */
function serverHint(error: unknown): string | undefined {
  return causeText(error, 'hint')?.trim();
}

/** The statement a driver error says failed (Drizzle's `query`), on one line and cut short. */
function failedStatement(error: unknown): string | undefined {
  const text = causeText(error, 'query');
  if (text === undefined) return undefined;
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 160 ? `${line.slice(0, 160)}...` : line;
}

/** The first non-blank text under `field` in `error` or its `cause` chain. */
function causeText(error: unknown, field: 'hint' | 'query'): string | undefined {
  for (const current of causeChain(error)) {
    const text = (current as Record<string, unknown>)[field];
    if (typeof text === 'string' && text.trim() !== '') return text;
  }
  return undefined;
}

/** Runs an exported operation's `work`, its server errors thrown as asOperationError makes them. */
export async function asOperation<T>(operation: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw asOperationError(operation, error);
  }
}
