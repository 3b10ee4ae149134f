import { causeChain, PgpartsError } from '../errors.js';

/**
 * What a driver's or the socket's code says about a connection that could not be made or was
 * lost (postgres.js's own codes, Node's net and DNS ones), in words. The CLI and the exported
 * operations describe them alike.
 */
const CONNECTION_ERROR_CODES: Record<string, string> = {
  CONNECT_TIMEOUT: 'the server did not answer the connection within the connect timeout',
  REPLY_TIMEOUT:
    'the server stopped answering: no reply to a statement within the reply timeout (--reply-timeout), and it does not show the statement running',
  CONNECTION_CLOSED: 'the server closed the connection',
  CLOSED_UNANSWERED:
    'the other end accepted the connection and closed it before it was set up, without a word (a proxy, load balancer or port-forward with no PostgreSQL server behind it?)',
  CONNECTION_ENDED: 'the connection was ended',
  CONNECTION_DESTROYED: 'the connection was destroyed',
  ECONNREFUSED: 'the connection was refused (is the server running on that host and port?)',
  ECONNRESET: 'the server reset the connection',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name could not be resolved (DNS)',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
};

/** The codes described above. */
const DESCRIBED_CODES: ReadonlySet<string> = new Set(Object.keys(CONNECTION_ERROR_CODES));

/**
 * Every driver and socket code that means the connection is gone or was never made
 * (isConnectionLoss): the ones described above, and two Node's net gives a write to a socket
 * already closed.
 */
export const CONNECTION_CODES: ReadonlySet<string> = new Set([
  ...DESCRIBED_CODES,
  'EPIPE',
  'ENOTCONN',
]);

/**
 * The codes of a connection that was never made: nothing ran on it. (A connection lost once
 * made, a backend terminated or a restart, may have run or committed something.)
 */
const NOT_CONNECTED_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CLOSED_UNANSWERED',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** The server could not be reached, or (the CLI's reply watchdog) stopped answering. */
const UNREACHABLE_CODES = new Set([...NOT_CONNECTED_CODES, 'REPLY_TIMEOUT']);

/** A driver or socket error: its code, and where it tried to connect when it says. */
interface CodedError {
  code: string;
  address?: unknown;
  hostname?: unknown;
  port?: unknown;
}

/** The first error in `error`'s cause chain (itself included) whose code `codes` holds. */
function withCode(error: unknown, codes: ReadonlySet<string>): CodedError | undefined {
  for (const current of causeChain(error)) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && codes.has(code)) return current as CodedError;
  }
  return undefined;
}

/**
 * Whether `error` (or its cause chain) says the server could not be reached, or stopped
 * answering: the CLI then says where and why, whatever operation met it.
 */
export function unreachable(error: unknown): boolean {
  return withCode(error, UNREACHABLE_CODES) !== undefined;
}

/** Whether `error` (or its cause chain) says the connection was never made. */
export function notConnected(error: unknown): boolean {
  return withCode(error, NOT_CONNECTED_CODES) !== undefined;
}

/**
 * What happened to the connection and where, from the first driver error of `error`'s cause
 * chain with a code described above: `cannot reach the database (host:port): <why> [CODE]`.
 */
export function describeConnectionError(error: unknown): string | undefined {
  const found = withCode(error, DESCRIBED_CODES);
  if (!found) return undefined;
  const { code, address, hostname, port } = found;
  // A refused connection names the address it tried; a name lookup, the host name.
  const host = typeof address === 'string' ? address : hostname;
  const where = typeof host === 'string' ? ` (${host}${port ? `:${port}` : ''})` : '';
  return `cannot reach the database${where}: ${CONNECTION_ERROR_CODES[code]} [${code}]`;
}

/**
 * A driver error about the connection itself, as one `connection` PgpartsError that says what
 * happened and where; undefined for any other error.
 */
export function connectionFailure(error: unknown): PgpartsError | undefined {
  const described = describeConnectionError(error);
  return described === undefined
    ? undefined
    : new PgpartsError('connection', described, { cause: error });
}
