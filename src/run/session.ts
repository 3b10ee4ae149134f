import { sql } from 'drizzle-orm';
import { rememberRecent } from '../catalog/recent.js';
import type { AnyPgDatabase } from './database.js';
import { afterSent } from './execute.js';
import { inlineParameters } from './inline-parameters.js';
import { lockTimeoutSql } from './lock-timeout.js';
import { isConnectionLoss } from './pg-error.js';
import { rowsOf } from './rows.js';

/**
 * One database connection for the whole of a maintenance run.
 *
 * A Drizzle database is usually a pool: two statements may run on two connections. Maintenance
 * needs one: a session-level advisory lock must be released by the connection that took it, and
 * the lock_timeout it sets must hold for the statements after it. So `apply` pins a connection:
 *
 * - postgres.js (`drizzle(postgres(url))`): `sql.reserve()` takes one connection out of the pool
 *   for the run. A reserved connection has no `begin`, so transactions on it are BEGIN/COMMIT
 *   (and SAVEPOINTs) sent on that connection, which is what `begin` does.
 * - node-postgres with a `Pool`: `pool.connect()` checks a client out for the run.
 * - anything else (a node-postgres `Client`, PGlite, which is single-connection): the database
 *   is one connection already and is used as given. A pooled driver that pgparts does not know
 *   must be given over a single connection.
 *
 * The pinned connection goes back to its pool at the end; nothing pgparts set on it outlives the
 * run (session settings are reset, the advisory lock released).
 *
 * Settings: a role or database may carry statement_timeout, idle_in_transaction_session_timeout,
 * idle_session_timeout or transaction_timeout meant for the app (300 ms, say). pgparts's own
 * work is long on purpose (a copy of millions of rows) and bounded by its own means
 * (lock_timeout, batches), so its session turns them off for its statements and gives the
 * previous values back at release.
 * JIT is off too: pgparts's statements are either short (under locks, where a compile would be
 * held against every writer) or batches whose cost estimates do not pay a compile back. Its
 * transactions are read committed whatever the database's default (default_transaction_isolation).
 */
export interface Session {
  db: AnyPgDatabase;
  /** How the connection was pinned. */
  kind: 'postgres-js-reserved' | 'node-postgres-client' | 'as-given';
  release(): Promise<void>;
}

interface PostgresJsClient {
  reserve(): Promise<PostgresJsReserved>;
  unsafe(query: string): Promise<unknown>;
  options: unknown;
}

interface PostgresJsReserved {
  unsafe(query: string): Promise<unknown>;
  release(): void;
}

interface NodePostgresPool {
  connect(): Promise<{
    release(destroy?: boolean): void;
    on?(event: 'error', listener: (error: unknown) => void): void;
    removeListener?(event: 'error', listener: (error: unknown) => void): void;
  }>;
}

function isPostgresJs(client: unknown): client is PostgresJsClient {
  return (
    typeof client === 'function' &&
    typeof (client as { reserve?: unknown }).reserve === 'function' &&
    typeof (client as { unsafe?: unknown }).unsafe === 'function'
  );
}

function isNodePostgresPool(client: unknown): client is NodePostgresPool {
  if (!client || typeof client !== 'object') return false;
  const ctor = Object.getPrototypeOf(client)?.constructor?.name ?? '';
  return typeof (client as { connect?: unknown }).connect === 'function' && ctor.includes('Pool');
}

/** A postgres.js query's methods that change how it runs or returns, and return the query. */
const QUERY_MODIFIERS = ['values', 'raw', 'simple', 'execute', 'describe'] as const;

/** A postgres.js query as pgparts's session uses it: a promise, and the modifiers above. */
type PostgresJsQuery = PromiseLike<unknown> & {
  [M in (typeof QUERY_MODIFIERS)[number]]: (...args: unknown[]) => unknown;
};

/** A postgres.js query that failed before it was sent; Drizzle may call `.values()` on it. */
function failedQuery(error: unknown): Promise<never> {
  const failed = Promise.reject(error) as Promise<never> & Record<string, unknown>;
  for (const method of QUERY_MODIFIERS) {
    failed[method] = () => failed;
  }
  return failed;
}

/**
 * A statement whose values cannot be written in (an array, a Date: inlineParameters gives up) is
 * sent named with its parameters: postgres.js asks for their types once per connection (a round
 * trip), then the connection keeps it. A client made with `prepare: false` (behind a
 * transaction-mode pooler) still sends it unnamed: postgres.js lets the client's setting win.
 */
function named(args: unknown[]): unknown[] {
  const [text, parameters, options] = args;
  return [text, parameters, { ...(options as object | undefined), prepare: true }];
}

/**
 * What a client's sessions (by the client's options object, one per client) have sent: texts
 * with their values written in, and the parameterized texts they came from (their shapes).
 */
interface Sent {
  /** A client made with `prepare: false` (behind a transaction-mode pooler) keeps nothing. */
  keepsNothing: boolean;
  /** Sessions pinned on the client so far (this one included). */
  sessions: number;
  /** The most recent MAX_SEEN of each (rememberRecent); `kept` only grows, to MAX_KEPT_TEXTS. */
  texts: Map<string, true>;
  shapes: Map<string, true>;
  kept: Set<string>;
  /** Shapes sent named with their parameters. */
  withParameters: Map<string, true>;
}
const sentBy = new WeakMap<object, Sent>();
const MAX_SEEN = 512;
const MAX_KEPT_TEXTS = 256;

function remember(map: Map<string, true>, text: string): void {
  rememberRecent(map, text, true, MAX_SEEN);
}

/**
 * How a statement whose values can be written in goes:
 * - a text sent a second time is stable (a family's catalog read, the app's settings), and so is
 *   one that asks to be kept (`wanted`: a catalog batch, whose planning costs more than running
 *   it) the first time its shape is sent in the client's first session: named with its values
 *   written in, so each connection parses and plans it once and asks for no parameter types;
 * - a shape sent again with other values (the lock attempt carries the run's token, the run's
 *   record its times, a retire's preflight its key), or a new one after the client's first
 *   session: named with its parameters, one text for every run, whose types postgres.js asks
 *   for once per connection (a round trip);
 * - a new shape in the client's first session (a CLI command's, a cron job's process, an app's
 *   start-up: most often the only one): unnamed, values written in.
 * Bounded: a connection keeps every statement named on it (postgres.js never deallocates one)
 * until it closes.
 */
function howSent(
  sent: Sent,
  shape: string,
  inlined: string,
  wanted: boolean,
): 'kept' | 'unnamed' | 'parameters' {
  if (sent.keepsNothing) return 'unnamed';
  if (sent.kept.has(inlined)) return 'kept';
  // Prepared with its parameters already: so it stays (the same text kept as well would be
  // planned twice on each connection).
  if (sent.withParameters.has(shape)) return 'parameters';
  const again = sent.shapes.has(shape);
  remember(sent.shapes, shape);
  const newInFirstSession = !again && sent.sessions === 1;
  if (
    (sent.texts.has(inlined) || (wanted && newInFirstSession)) &&
    sent.kept.size < MAX_KEPT_TEXTS
  ) {
    sent.kept.add(inlined);
    return 'kept';
  }
  remember(sent.texts, inlined);
  if (newInFirstSession) return 'unnamed';
  remember(sent.withParameters, shape);
  return 'parameters';
}

/**
 * What a statement is sent as (one without parameters: keptWithoutParameters). postgres.js sends
 * a statement with parameters that its connection has not prepared in two round trips (it asks
 * for the parameter types first), and holds back the statements behind it: a run on a new
 * connection paid 19 round trips instead of 3. When later runs named every statement with its
 * parameters, each connection paid one per statement on its first such run: a client's second
 * run, and every connection it opened again (a pool replacing an old one, a server restart); a
 * client's second no-op took 25-40 ms here, against 11-19 since. So pgparts's sessions write the
 * values in as literals (inline-parameters.ts) wherever that keeps the text the same from run to
 * run (howSent): no round trip of its own, pipelined with the rest. The values are written as
 * PostgreSQL would read the parameters (the statement's casts type them), and the texts return
 * fixed columns (catalog facts, counts), so a table changed since cannot change what a kept
 * statement returns.
 */
function sendable(args: unknown[], sent: Sent): unknown[] {
  const [text, parameters, options] = args;
  if (typeof text !== 'string' || !Array.isArray(parameters)) return args;
  if (parameters.length === 0) return keptWithoutParameters(args);
  const inlined = inlineParameters(text, parameters);
  if (inlined === null) return named(args);
  const wanted = (options as { prepare?: unknown } | undefined)?.prepare === true;
  const how = howSent(sent, text, inlined, wanted);
  if (how === 'parameters') return named(args);
  // Extended protocol (postgres.js sends a text without parameters as a simple query).
  return [
    inlined,
    [],
    { ...(options as object | undefined), prepare: how === 'kept', simple: false },
  ];
}

/**
 * A statement without parameters that asks to be kept (prepared-statement.ts: a catalog batch,
 * DEFAULT's first look, whose values are written in) goes named on the extended protocol.
 * postgres.js would send it as a simple query, which the server parses and plans on every run;
 * named, the connection plans it once and keeps it while its text stays the same. Without
 * parameters postgres.js does not ask for their types first: it goes out with the rest, in the
 * same round trip, on a new connection too. Anything else without parameters is sent as given.
 */
function keptWithoutParameters(args: unknown[]): unknown[] {
  const [text, parameters, options] = args;
  if ((options as { prepare?: unknown } | undefined)?.prepare !== true) return args;
  return [text, parameters, { ...(options as object), simple: false }];
}

/** postgres.js's connection, as a query's `onexecute` is given it: its close handler slot. */
interface PostgresJsConnection {
  onclose?: ((error: unknown) => void) | null;
}

/**
 * A reserved postgres.js connection made to look like a client Drizzle can run transactions on.
 *
 * Once its connection is lost, every query of the session settles at once with the error that
 * ended the connection, and nothing more is sent on it. postgres.js (3.4) leaves two kinds of
 * query unsettled for ever: one it queued behind a statement that first asks for its parameter
 * types (a pipelined batch), which it never sends once the connection closed; and one sent
 * after the connection closed while idle, which it writes to the closed socket from a timer
 * (an uncaught TypeError no caller can catch: a ROLLBACK after a killed backend, the advisory
 * lock's release, settings restored at the end). Lost means a query failed with the
 * connection, or the connection closed (its backend terminated, the server restarted) while
 * idle or with queries queued: no query fails then, so the connection's close is watched
 * (postgres.js hands a query's `onexecute` the connection, and calls its `onclose` when it
 * closes; nothing else uses that slot on a reserved connection).
 */
function transactionalReserved(reserved: PostgresJsReserved, options: unknown): unknown {
  let savepoints = 0;
  let lost: unknown;
  let watched: PostgresJsConnection | undefined;
  /** What fails each query of the session not settled yet. */
  const unsettled = new Set<(error: unknown) => void>();
  const markLost = (error: unknown) => {
    lost ??= error;
    for (const fail of unsettled) fail(lost);
    unsettled.clear();
  };
  /** Returns true: what postgres.js takes when a query has no onexecute of its own. */
  const watch = (connection: PostgresJsConnection) => {
    if (watched === undefined && connection && typeof connection === 'object') {
      watched = connection;
      const previous = connection.onclose;
      connection.onclose = (error: unknown) => {
        markLost(
          error ?? Object.assign(new Error('the connection closed'), { code: 'CONNECTION_CLOSED' }),
        );
        previous?.(error);
      };
    }
    return true;
  };
  const scoped = reserved as PostgresJsReserved & Record<string, unknown>;
  const client = typeof options === 'object' && options !== null ? options : scoped;
  let sent = sentBy.get(client);
  if (!sent) {
    sent = {
      keepsNothing: (client as { prepare?: unknown }).prepare === false,
      sessions: 0,
      texts: new Map(),
      shapes: new Map(),
      kept: new Set(),
      withParameters: new Map(),
    };
    sentBy.set(client, sent);
  }
  sent.sessions += 1;
  // postgres.js hands `onexecute` the connection only for a statement that does not first ask
  // for its parameter types; one with parameters new to the connection does. Ahead of a first
  // statement with parameters goes an empty query, which hands it over and which the server
  // answers without parsing anything, in the same write: the close is watched from the start.
  let probed = false;
  const unsafe = reserved.unsafe.bind(reserved) as unknown as (
    ...args: unknown[]
  ) => PostgresJsQuery;
  const release = reserved.release.bind(reserved);
  scoped.release = () => {
    // The connection goes back to the pool: its later closes are not this session's.
    if (watched) watched.onclose = null;
    // Not a lost one: postgres.js has put it among its closed connections, which it connects
    // again when a query needs one; released, it would be handed out as open, and the app's
    // next query on it would never settle.
    if (lost === undefined) release();
  };
  scoped.unsafe = (...args: unknown[]) => {
    if (lost !== undefined) return failedQuery(lost);
    const [text, parameters, queryOptions] = sendable(args, sent);
    if (watched === undefined && !probed && Array.isArray(parameters) && parameters.length > 0) {
      probed = true;
      unsafe('', [], { onexecute: watch }).then(undefined, () => {});
    }
    const own = (queryOptions as { onexecute?: unknown } | undefined)?.onexecute;
    const query = unsafe(text, parameters, {
      ...(queryOptions as object | undefined),
      onexecute:
        typeof own === 'function'
          ? (connection: PostgresJsConnection) => {
              watch(connection);
              return own(connection);
            }
          : watch,
    });
    // Settled by the query, or by the connection's loss, whichever comes first. The query is
    // handed to postgres.js now (its `then`); it runs on the next tick, after Drizzle has set
    // `.values()`, which the returned promise passes on.
    const settled = new Promise((resolve, reject) => {
      unsettled.add(reject);
      query.then(
        (value) => {
          unsettled.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          unsettled.delete(reject);
          if (isConnectionLoss(error)) markLost(error);
          reject(error);
        },
      );
    }) as Promise<unknown> & Record<string, unknown>;
    for (const method of QUERY_MODIFIERS) {
      settled[method] = (...modifierArgs: unknown[]) => {
        query[method](...modifierArgs);
        return settled;
      };
    }
    return settled;
  };
  const within = async <T>(
    open: string,
    commit: string,
    rollback: string,
    fn: (client: unknown) => Promise<T>,
  ): Promise<T> => {
    // BEGIN goes out with the transaction's first statement, not a round trip of its own; when
    // BEGIN itself failed (the connection was lost before it), that is the error reported.
    try {
      const [, result] = await afterSent(scoped.unsafe(open), () => fn(scoped));
      await scoped.unsafe(commit);
      return result;
    } catch (error) {
      if (!isConnectionLoss(error)) await scoped.unsafe(rollback).catch(() => {});
      throw error;
    }
  };
  scoped.options = options;
  scoped.begin = (fn: (client: unknown) => Promise<unknown>) =>
    within('BEGIN', 'COMMIT', 'ROLLBACK', fn);
  scoped.savepoint = (fn: (client: unknown) => Promise<unknown>) => {
    savepoints += 1;
    const name = `pgparts_savepoint_${savepoints}`;
    return within(
      `SAVEPOINT ${name}`,
      `RELEASE SAVEPOINT ${name}`,
      `ROLLBACK TO SAVEPOINT ${name}`,
      fn,
    );
  };
  return scoped;
}

/** The settings pgparts's sessions run with; `lockTimeoutMs` adds lock_timeout for the session. */
export function pgpartsSessionSettings(lockTimeoutMs?: number): Record<string, string> {
  // lockTimeoutSql refuses anything but a positive whole number of ms.
  if (lockTimeoutMs !== undefined) lockTimeoutSql(lockTimeoutMs);
  return {
    statement_timeout: '0',
    idle_in_transaction_session_timeout: '0',
    // PostgreSQL 14+ and 17+; skipped where the server does not know them. A session that holds
    // a key's lock sits idle between a throttled drain's batches.
    idle_session_timeout: '0',
    transaction_timeout: '0',
    jit: 'off',
    // A database or role may default to repeatable read or serializable. pgparts's transactions
    // take their locks first and must see what committed before they got them (a drain's last
    // replay, under its locks): under repeatable read their snapshot was taken by the statement
    // before the lock, and a writer's rows committed in between were lost with the old DEFAULT;
    // under serializable its replay failed with 40001.
    default_transaction_isolation: 'read committed',
    // The catalog text pgparts reads (a bound, a CHECK, an index's predicate) writes a string's
    // backslash once, as pgparts's own literals expect; off, the server doubles it.
    standard_conforming_strings: 'on',
    // pgparts's bookkeeping DDL is idempotent (CREATE ... IF NOT EXISTS): its "already exists,
    // skipping" NOTICEs would reach the app's notice handler (postgres.js prints them) on every
    // first run. Warnings and errors still come through.
    client_min_messages: 'warning',
    ...(lockTimeoutMs !== undefined ? { lock_timeout: `${lockTimeoutMs}ms` } : {}),
  };
}

/**
 * Sets `settings` for the session of `db` (one connection) and returns what gives the previous
 * values back. Settings the server does not have are skipped.
 */
export async function applySessionSettings(
  db: AnyPgDatabase,
  settings: Record<string, string>,
): Promise<() => Promise<void>> {
  return (await applySettings(db, settings)).restore;
}

/** applySessionSettings, and the server session (backend pid) the settings were made in. */
async function applySettings(
  db: AnyPgDatabase,
  settings: Record<string, string>,
  token?: string,
): Promise<{ restore: () => Promise<void>; pid: number | undefined }> {
  const names = Object.keys(settings);
  if (names.length === 0) return { restore: async () => {}, pid: undefined };
  // One round trip: each setting's value is read (the materialized subquery) before it is set.
  // current_setting(name, true) is NULL for a setting this server does not have. (Read through
  // the pg_settings view instead, this statement took about 1 ms: it lists every setting.)
  // Handed to the driver now (an explicit `then`), before anything the caller sends next.
  const previous = await db
    .execute(
      sql`WITH v(name, value) AS (VALUES ${sql.join(
        names.map((n) => sql`(${n}::text, ${settings[n] ?? ''}::text)`),
        sql`, `,
      )}),
          prev AS MATERIALIZED (
            SELECT v.name, v.value AS wanted, current_setting(v.name, true) AS value FROM v)
          SELECT prev.name, prev.value, set_config(prev.name, prev.wanted, false) AS set,
                 pg_backend_pid() AS pid${token === undefined ? sql`` : sql`, set_config(${SESSION_TOKEN}, ${token}, false) AS token`}
          FROM prev WHERE prev.value IS NOT NULL`,
    )
    .then((result) => rowsOf<{ name: string; value: string; pid: number }>(result));
  const restore = async () => {
    if (previous.length === 0) return;
    // The token (a placeholder setting: it has no previous value) is emptied with the rest.
    const back = [
      ...previous.map((p) => sql`(${p.name}::text, ${p.value}::text)`),
      ...(token === undefined ? [] : [sql`(${SESSION_TOKEN}::text, ''::text)`]),
    ];
    await db.execute(
      sql`SELECT set_config(v.name, v.value, false) FROM (VALUES ${sql.join(back, sql`, `)}) v(name, value)`,
    );
  };
  const pid = previous[0]?.pid;
  return { restore, pid: pid === undefined ? undefined : Number(pid) };
}

export interface SessionOptions {
  /** Session settings for the run (see pgpartsSessionSettings); restored at release. */
  settings?: Record<string, string>;
  /**
   * Also set SESSION_TOKEN to this value with the settings, for the statements after them to
   * check that they run in the same server session (pooled-session.ts).
   */
  token?: string;
}

/** A setting of pgparts's own that marks the server session a run set its settings in. */
export const SESSION_TOKEN = 'pgparts.session_token';

/** Pins one connection of `db` (see above). Always `release()` it, in a finally. */
export async function openSession(
  db: AnyPgDatabase,
  options: SessionOptions = {},
): Promise<Session> {
  const session = await openSessionSending(db, options);
  try {
    await session.ready;
  } catch (error) {
    await session.release();
    throw error;
  }
  return session;
}

/**
 * `fn` on a connection of its own when `db` is a postgres.js client, else on `db` as given: its
 * statements go out as sendable() says (a process's first session writes the values in: none
 * waits for its parameter types), which the client's own transactions cannot do. `openFirst`:
 * the connection is opened before it is reserved (reserveConnection). postgres.js's reserve()
 * on a client whose connection then fails to open keeps the reservation queued and connects
 * again for it after the failure was reported: a command would wait for that attempt to exit.
 */
export async function onOwnConnection<T>(
  db: AnyPgDatabase,
  fn: (db: AnyPgDatabase) => Promise<T>,
  options: { openFirst?: boolean } = {},
): Promise<T> {
  const client = (db as { $client?: unknown }).$client;
  if (!isPostgresJs(client)) return fn(db);
  const session = await pin(db, options);
  try {
    return await fn(session.db);
  } finally {
    await session.release();
  }
}

/**
 * openSession without waiting for its settings: they are sent, and `ready` settles once they
 * are in place (rejecting with their error). The connection runs statements in the order they
 * are sent, so whatever the caller sends next runs under them and goes out with them instead
 * of a round trip later; the caller awaits `ready` before it relies on what it sent, and undoes
 * it should `ready` reject. `release()` restores only settings that were set.
 */
export async function openSessionSending(
  db: AnyPgDatabase,
  options: SessionOptions = {},
): Promise<Session & { ready: Promise<void>; backendPid: Promise<number | undefined> }> {
  const session = await pin(db);
  if (!options.settings) {
    return { ...session, ready: Promise.resolve(), backendPid: Promise.resolve(undefined) };
  }
  const applying = applySettings(session.db, options.settings, options.token);
  const ready = applying.then(() => undefined);
  // Awaited by the caller; until then a rejection is not unhandled.
  ready.catch(() => {});
  return {
    ...session,
    ready,
    backendPid: applying.then(
      (a) => a.pid,
      () => undefined,
    ),
    release: async () => {
      // A lost connection cannot be restored, and is not given back to the pool as it was.
      const applied = await applying.catch(() => null);
      await applied?.restore().catch(() => {});
      await session.release();
    },
  };
}

/**
 * What `load` gives, loaded on first use and kept (a failure is not kept: tried again next time).
 */
function kept<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error: unknown) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}

/**
 * Drizzle's driver modules, imported on first use and kept: the drivers are optional peers, so
 * not imported up front; an import() on every run would resolve the module again each time.
 */
const postgresJsModule = kept(() => import('drizzle-orm/postgres-js'));
const nodePostgresModule = kept(() => import('drizzle-orm/node-postgres'));

/**
 * The driver's client of `db` when pin() uses `db` as given (one connection: a node-postgres
 * Client, PGlite, a transaction); undefined for a pool it pins a connection of.
 */
export function usedAsGiven(db: AnyPgDatabase): object | undefined {
  const client = (db as { $client?: unknown }).$client;
  if (isPostgresJs(client) || isNodePostgresPool(client)) return undefined;
  return client && typeof client === 'object' ? client : db;
}

/**
 * A reserved connection of a postgres.js client, opened first when `openFirst` says so or the
 * client must have it: an empty query (which the server answers without parsing anything)
 * leaves a connection open and idle, which reserve() takes. postgres.js (3.4) with
 * `fetch_types: false` never settles a reserve() that has to open a connection for it: the
 * connection comes up and waits, and the reservation with it, until another of the client's
 * connections goes idle (a client with no connection open waited for ever). Should an app
 * query take the opened one in between, the reservation gets the next to go idle.
 */
async function reserveConnection(
  client: PostgresJsClient,
  openFirst: boolean,
): Promise<PostgresJsReserved> {
  const fetchesTypes = (client.options as { fetch_types?: unknown } | null)?.fetch_types !== false;
  if (openFirst || !fetchesTypes) await client.unsafe('');
  return client.reserve();
}

async function pin(db: AnyPgDatabase, options: { openFirst?: boolean } = {}): Promise<Session> {
  const client = (db as { $client?: unknown }).$client;
  if (isPostgresJs(client)) {
    const reserved = await reserveConnection(client, options.openFirst === true);
    const { drizzle } = await postgresJsModule();
    const pinned = drizzle(transactionalReserved(reserved, client.options) as never);
    return {
      db: pinned as unknown as AnyPgDatabase,
      kind: 'postgres-js-reserved',
      release: async () => reserved.release(),
    };
  }
  if (isNodePostgresPool(client)) {
    const checkedOut = await client.connect();
    // A checked-out node-postgres client whose backend dies emits 'error'; with no listener
    // that is an uncaught exception. The query that was running rejects with it anyway.
    let lost: unknown;
    const onError = (error: unknown) => {
      lost = error;
    };
    checkedOut.on?.('error', onError);
    const { drizzle } = await nodePostgresModule();
    const pinned = drizzle(checkedOut as never);
    return {
      db: pinned as unknown as AnyPgDatabase,
      kind: 'node-postgres-client',
      release: async () => {
        checkedOut.removeListener?.('error', onError);
        // A client whose connection broke is destroyed, not given back to the pool.
        checkedOut.release(lost !== undefined ? true : undefined);
      },
    };
  }
  return { db, kind: 'as-given', release: async () => {} };
}
