import { entityKind } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from './database.js';

export type DriverName = 'postgres-js' | 'node-postgres' | 'pglite' | 'unknown';

export interface DriverCapabilities {
  driver: DriverName;
  /** How many sessions the db can hold open at once; undefined when the driver does not say. */
  maxSessions: number | undefined;
  /**
   * Whether two statements can run in two sessions at the same time (a lock held in one while
   * the other works or waits). pgparts's own operations need only one; this is for code that
   * needs two, to refuse a single-session database clearly instead of waiting forever.
   */
  multiSession: boolean;
  /** Why not, when multiSession is false: said in the errors of operations that need it. */
  reason?: string;
}

interface DrizzleInternals {
  session?: { client?: unknown; constructor: unknown };
  constructor: unknown;
}

function kindOf(value: unknown): string {
  const kind = (value as { [entityKind]?: unknown } | undefined)?.[entityKind];
  return typeof kind === 'string' ? kind : '';
}

/** postgres.js keeps its pool size in `options.max` (default 10). */
function postgresJsMax(client: unknown): number | undefined {
  const max = (client as { options?: { max?: unknown } } | undefined)?.options?.max;
  return typeof max === 'number' ? max : undefined;
}

/** A node-postgres Pool keeps `options.max` (default 10); a Client or PoolClient is one session. */
function nodePostgresMax(client: unknown): number | undefined {
  const c = client as { totalCount?: unknown; options?: { max?: unknown } } | undefined;
  if (typeof c?.totalCount !== 'number') return 1;
  return typeof c.options?.max === 'number' ? c.options.max : 10;
}

function single(driver: DriverName, reason: string, maxSessions = 1): DriverCapabilities {
  return { driver, maxSessions, multiSession: false, reason };
}

/** Whether `db` is a Drizzle transaction: its statements run inside the caller's transaction. */
export function isDrizzleTransaction(db: AnyPgDatabase): boolean {
  return kindOf((db as unknown as DrizzleInternals).constructor).endsWith('Transaction');
}

/**
 * The server and database `db` connects to as its postgres.js client names them (host, port,
 * database), or null for other drivers: what tells apart two databases a process reaches.
 */
export function postgresJsServer(db: AnyPgDatabase): string | null {
  if (driverOf(db) !== 'postgres-js') return null;
  const client = (db as unknown as DrizzleInternals).session?.client;
  const options = (client as { options?: Record<string, unknown> } | undefined)?.options;
  if (!options) return null;
  return JSON.stringify([options.host, options.port, options.database]);
}

/** The driver Drizzle wraps in `db`, read from its session's kind. */
export function driverOf(db: AnyPgDatabase): DriverName {
  const sessionKind = kindOf((db as unknown as DrizzleInternals).session?.constructor);
  return sessionKind.startsWith('Pglite')
    ? 'pglite'
    : sessionKind.startsWith('NodePg')
      ? 'node-postgres'
      : sessionKind.startsWith('PostgresJs')
        ? 'postgres-js'
        : 'unknown';
}

/**
 * Whether statements sent on `db` one after the other, without waiting for replies, reach one
 * connection in that order and go out together: a postgres.js connection of its own (one
 * pgparts pinned, see session.ts, or a transaction's), not a pool (which has `reserve`). Other
 * drivers run one query at a time (node-postgres warns that sending more is deprecated).
 */
export function sendsTogether(db: AnyPgDatabase): boolean {
  if (driverOf(db) !== 'postgres-js') return false;
  const client = (db as unknown as DrizzleInternals).session?.client;
  return typeof (client as { reserve?: unknown } | undefined)?.reserve !== 'function';
}

/**
 * What the Drizzle database behind `db` can do, read from the driver Drizzle wraps (without
 * importing any driver: all three are optional peers).
 */
export function driverCapabilities(db: AnyPgDatabase): DriverCapabilities {
  const internals = db as unknown as DrizzleInternals;
  const client = internals.session?.client;
  const driver = driverOf(db);

  if (driver === 'pglite') {
    return single(driver, 'PGlite runs one in-process session');
  }
  if (isDrizzleTransaction(db)) {
    return single(driver, 'a transaction is pinned to one session');
  }
  const maxSessions =
    driver === 'postgres-js'
      ? postgresJsMax(client)
      : driver === 'node-postgres'
        ? nodePostgresMax(client)
        : undefined;
  if (maxSessions === 1) {
    const what = driver === 'node-postgres' ? 'a single pg Client' : 'a pool of max: 1';
    return single(driver, `the database is ${what}`);
  }
  return { driver, maxSessions, multiSession: true };
}

/**
 * Throws, naming the operation and the table, when `db` cannot hold two sessions at once.
 * `instead` says what the caller can do (e.g. "run it against a PostgreSQL server").
 */
export function assertMultiSession(
  db: AnyPgDatabase,
  operation: string,
  instead: string,
): DriverCapabilities {
  const capabilities = driverCapabilities(db);
  if (!capabilities.multiSession) {
    throw new PgpartsError(
      'unsupported-driver',
      `pgparts: ${operation} needs two database sessions at once, but ${capabilities.reason} ` +
        `(driver ${capabilities.driver}); ${instead}`,
    );
  }
  return capabilities;
}
