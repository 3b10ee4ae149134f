import { randomBytes } from 'node:crypto';
import { PgpartsError } from '../errors.js';
import { DEFAULT_REPLY_TIMEOUT_S } from '../run/reply-watchdog.js';
import { connectNodePostgres } from './driver-node-postgres.js';
import { connectPostgresJs } from './driver-postgres-js.js';
import type { CliConnection } from './driver-settings.js';
import { cliIo } from './io.js';

export type { CliConnection } from './driver-settings.js';

/** The URL with its password replaced, for anything printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

/** How long the CLI waits for a server to finish the startup handshake, seconds. */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;
/**
 * statement_timeout of the commands that only read (status, plan), seconds: a catalog read
 * that takes longer is stuck behind a lock, and an alerting job should hear about it.
 */
export const DEFAULT_READ_QUERY_TIMEOUT_S = 60;

export interface ConnectOptions {
  databaseUrl?: string | undefined;
  /** Seconds to wait for the server to answer the connection; default 10. */
  connectTimeout?: number | undefined;
  /** statement_timeout in seconds; 0 for none. Default: 60 for read-only commands, none otherwise. */
  queryTimeout?: number | undefined;
  /**
   * Seconds a statement may go without a reply before the server is asked (over a new
   * connection) whether it still runs it; not running, or no answer: the command fails
   * (run/reply-watchdog.ts). Default $PGPARTS_REPLY_TIMEOUT, else 30.
   */
  replyTimeout?: number | undefined;
}

/**
 * Why `url` is not a connection URL postgres.js can read, in words that say what to fix; null
 * when it is fine. Never echoes the password: only the scheme, the port and the host are named.
 */
export function databaseUrlProblem(url: string): string | null {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (!scheme) {
    return 'the database URL must look like postgres://user:password@host:5432/database';
  }
  if (!/^postgres(ql)?$/i.test(scheme)) {
    return `the database URL starts with ${scheme}://; use postgres:// or postgresql://`;
  }
  const rest = url.slice(scheme.length + 3);
  const hidden = charactersHiddenByFragment(rest);
  if (hidden) {
    return (
      `the password (or user name) in the database URL contains ${hidden
        .map((c) => `"${c}"`)
        .join(', ')
        .replace(/, (?=[^,]*$)/, ' and ')}; ` +
      `percent-encode ${hidden.length > 1 ? 'them' : 'it'} (${hidden.map((c) => PERCENT_ENCODED[c]).join(', ')})`
    );
  }
  const authority = rest.split(/[/?#]/)[0] ?? '';
  if (authority.includes('@') && authority.lastIndexOf('@') !== authority.indexOf('@')) {
    return 'the user name or password in the database URL contains "@"; percent-encode it as %40';
  }
  // `user:pass` cut short by a "/", "?" or "#" in the password: what is left of the authority
  // has a colon followed by something that is not a port, and an "@" comes later.
  const cutShort = !authority.includes('@') && /:(?!\d*$)/.test(authority) && rest.includes('@');
  if (cutShort) {
    return (
      'the password (or user name) in the database URL contains "/", "?" or "#"; ' +
      'percent-encode them (%2F, %3F, %23)'
    );
  }
  const hosts = authority.slice(authority.indexOf('@') + 1);
  for (const host of hosts.split(',')) {
    const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(host)?.[1];
    if (port !== undefined && !/^\d{1,5}$/.test(port)) {
      return `the port of the database URL is not a number (host ${host.replace(/:.*$/, '')})`;
    }
    if (port !== undefined && port !== '' && (Number(port) < 1 || Number(port) > 65535)) {
      return `the port of the database URL is ${port}, outside 1 to 65535 (host ${host.replace(/:[^:]*$/, '')})`;
    }
  }
  const firstHost = hosts.split(',')[0] ?? '';
  try {
    new URL(url.replace(hosts, firstHost));
  } catch {
    return (
      'the database URL cannot be parsed; percent-encode special characters ' +
      '(% @ : / ? #) in the user name and password'
    );
  }
  try {
    decodeURIComponent(authority);
  } catch {
    return 'the database URL holds a "%" that starts no percent-encoding; write it as %25';
  }
  return null;
}

const PERCENT_ENCODED: Record<string, string> = { '@': '%40', '#': '%23', '/': '%2F', '?': '%3F' };

/**
 * The special characters in the user info of a URL whose password holds a "#" with an "@"
 * after it, or null. A fragment means nothing to a database URL, so an "@" after a "#" says
 * the "#" is inside the password; the URL parser would instead end the host at the "#" and
 * take part of the password for the host name. Only characters are returned, never the text.
 */
function charactersHiddenByFragment(rest: string): string[] | null {
  const hash = rest.indexOf('#');
  if (hash < 0) return null;
  // The host list after the last "@" ends at a "/" or "?"; an "@" in the query is not one.
  const afterHash = rest.slice(hash);
  const end = afterHash.search(/[/?]/);
  const head = rest.slice(0, hash) + (end < 0 ? afterHash : afterHash.slice(0, end));
  const at = head.lastIndexOf('@');
  if (at < hash) return null;
  const userInfo = head.slice(0, at);
  return ['@', '#', '/', '?'].filter((c) => userInfo.includes(c));
}

/** A whole number of seconds from an option, or the fallback; refuses anything else. */
function seconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new PgpartsError(
      'invalid-input',
      `${name} must be a whole number of seconds, not ${value}`,
    );
  }
  return value;
}

/**
 * Connects with --database-url or DATABASE_URL; a clear error when neither is given or the URL
 * is malformed. The startup handshake must finish within the connect timeout (a server that
 * accepts TCP but never answers fails the first query with a `connection` error instead of
 * hanging); `readOnly` commands get a statement_timeout by default. The driver is the app's:
 * postgres.js when `postgres` is installed, else node-postgres (`pg`), loaded only here, so the
 * commands that need no database (generate, --help) need neither.
 */
export async function connect(
  options: ConnectOptions | string | undefined,
  mode: { readOnly?: boolean } = {},
): Promise<CliConnection> {
  const given = typeof options === 'object' ? options : { databaseUrl: options };
  const url = given.databaseUrl ?? cliIo().env.DATABASE_URL;
  if (!url) {
    throw new PgpartsError(
      'invalid-config',
      'no database given; pass --database-url or set DATABASE_URL',
    );
  }
  const problem = databaseUrlProblem(url);
  if (problem) throw new PgpartsError('invalid-config', problem);
  const settings = {
    url,
    label: redactUrl(url),
    connectTimeout: seconds('--connect-timeout', given.connectTimeout, DEFAULT_CONNECT_TIMEOUT_S),
    queryTimeout: seconds(
      '--query-timeout',
      given.queryTimeout,
      mode.readOnly ? DEFAULT_READ_QUERY_TIMEOUT_S : 0,
    ),
    replyTimeout: replyTimeoutSeconds(given.replyTimeout),
    applicationName: `pgparts ${randomBytes(6).toString('hex')}`,
  };
  const connection = (await connectPostgresJs(settings)) ?? (await connectNodePostgres(settings));
  if (connection) return connection;
  throw new PgpartsError(
    'invalid-config',
    'the pgparts command connects through postgres.js or node-postgres, and neither is installed ' +
      'here; install one in the app: npm install postgres (or npm install pg)',
  );
}

/** --reply-timeout, else $PGPARTS_REPLY_TIMEOUT, else the default; whole seconds of 1 or more. */
function replyTimeoutSeconds(given: number | undefined): number {
  const env = cliIo().env.PGPARTS_REPLY_TIMEOUT;
  if (given === undefined && env !== undefined && env !== '') {
    if (!/^\d+$/.test(env.trim()) || Number(env) < 1) {
      throw new PgpartsError(
        'invalid-config',
        `PGPARTS_REPLY_TIMEOUT must be a whole number of seconds of 1 or more, not ${JSON.stringify(env)}`,
      );
    }
    return Number(env);
  }
  return seconds('--reply-timeout', given, DEFAULT_REPLY_TIMEOUT_S);
}
