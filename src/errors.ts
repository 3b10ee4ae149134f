/**
 * The one error type pgparts throws. `code` is stable (match on it, never on the message); the
 * message says what happened, to which table, and what to do next. `cause` keeps the server's
 * error when there was one; `sqlState` is its SQLSTATE.
 */

/** Every code pgparts uses, by the kind of problem. */
export const ERROR_CODES = [
  /** A config file, a spec or an option failed validation. */
  'invalid-config',
  /** An argument (a key, a query input) failed validation; nothing was run. */
  'invalid-input',
  /** The live database does not match the spec (missing table, other partition key). */
  'spec-mismatch',
  /** The server is too old, or takes no changes (a hot standby, read-only transactions) where one was asked for. */
  'unsupported-server',
  /** A lock could not be had within lock_timeout after every retry. */
  'lock-timeout',
  /**
   * The database driver cannot do what the operation needs (e.g. two sessions at once), or is
   * set up to change what it returns (a postgres.js `transform`).
   */
  'unsupported-driver',
  /** The connection could not be made or was lost. */
  'connection',
  /** The role lacks a privilege the operation needs. */
  'permission',
  /** pgparts refuses: the operation could lose rows or touch what it does not own. */
  'refused',
  /** Another pgparts operation holds the key or the family. */
  'busy',
  /** A query failed on the server; `cause` holds the server's error. */
  'query-failed',
  /** A migration problem: an edited or missing file, a failed statement. */
  'migration',
  /** A conversion step found a state it cannot continue from. */
  'conversion-state',
  /** A bug: a state pgparts should never reach. */
  'internal',
] as const;

export type PgpartsErrorCode = (typeof ERROR_CODES)[number];

export interface PgpartsErrorDetails {
  /** The table (schema-qualified) the error concerns. */
  table?: string;
  /** The step or operation that failed (`drain`, `retire`, `convert fill`, a step id). */
  step?: string;
  /** A page of docs/ that explains the PostgreSQL behaviour behind the error. */
  docs?: string;
  /**
   * What to do next, when the message ends with it: a report that shows only the server's
   * words for a `query-failed` error (apply's step results) adds it.
   */
  hint?: string;
  cause?: unknown;
}

export class PgpartsError extends Error {
  readonly code: PgpartsErrorCode;
  readonly table?: string;
  readonly step?: string;
  readonly docs?: string;
  readonly hint?: string;
  /** The server's SQLSTATE, when a server error caused this one. */
  readonly sqlState?: string;

  constructor(code: PgpartsErrorCode, message: string, details: PgpartsErrorDetails = {}) {
    super(message.startsWith('pgparts: ') ? message : `pgparts: ${message}`, {
      cause: details.cause,
    });
    this.name = 'PgpartsError';
    this.code = code;
    this.table = details.table;
    this.step = details.step;
    this.docs = details.docs;
    this.hint = details.hint;
    this.sqlState = sqlStateOf(details.cause);
  }
}

/** True for a PgpartsError, optionally of one code. */
export function isPgpartsError(error: unknown, code?: PgpartsErrorCode): error is PgpartsError {
  return error instanceof PgpartsError && (code === undefined || error.code === code);
}

/**
 * How far a `cause` chain is followed: ours over Drizzle's DrizzleQueryError over the driver's
 * error over a socket's is four; the rest is room. Every reader of a chain walks it through
 * causeChain, so they all see the same errors.
 */
const MAX_CAUSE_DEPTH = 6;

/** `error` and the errors of its `cause` chain, outermost first (objects only). */
export function* causeChain(error: unknown): Generator<object> {
  let current = error;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH; depth += 1) {
    if (!current || typeof current !== 'object') return;
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/** The SQLSTATE of `cause` or of the first error in its chain that has one. */
export function sqlStateOf(cause: unknown): string | undefined {
  for (const error of causeChain(cause)) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}
