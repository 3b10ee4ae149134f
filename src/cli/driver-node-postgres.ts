import { closedUnansweredError } from '../run/reply-watchdog.js';
import { type CliConnection, type DriverSettings, importInstalled } from './driver-settings.js';

/**
 * The CLI's connection over node-postgres, for an app that has `pg` and not `postgres`
 * (undefined when `pg` is not installed either): a Pool of 4 with the same connect timeout,
 * application_name and statement_timeout. The reply watchdog is postgres.js's alone (it wraps
 * the socket postgres.js is given); here TCP keepalives are what notice a dead server.
 */
export async function connectNodePostgres(
  settings: DriverSettings,
): Promise<CliConnection | undefined> {
  const loaded = await importInstalled('pg', () => import('pg'));
  if (!loaded) return undefined;
  // pg is CommonJS: imported from ESM, its exports are the default export.
  const { Pool } = loaded.default;
  const { drizzle } = await import('drizzle-orm/node-postgres');
  const pool = new Pool({
    connectionString: settings.url,
    max: 4,
    connectionTimeoutMillis: settings.connectTimeout * 1000,
    application_name: settings.applicationName,
    keepAlive: true,
    ...(settings.queryTimeout > 0 ? { statement_timeout: settings.queryTimeout * 1000 } : {}),
  });
  // An idle pooled client whose server went away emits 'error' on the pool; the command's next
  // query fails on its own (with a connection error), so this one is not a crash of its own.
  pool.on('error', () => {});
  const where = new URL(settings.url.split(',')[0] ?? settings.url);
  const checkout = pool.connect.bind(pool) as (
    done: (error: Error | undefined, ...rest: unknown[]) => void,
  ) => void;
  // Every query goes through connect (pool.query calls it too): what fails here failed before
  // the connection was set up, and says so with the code the CLI words as such.
  (pool as unknown as { connect: unknown }).connect = (
    done?: (error: Error | undefined, ...rest: unknown[]) => void,
  ) => {
    if (done) return checkout((error, ...rest) => done(error && notSetUp(error, where), ...rest));
    return new Promise((resolve, reject) =>
      checkout((error, client) => (error ? reject(notSetUp(error, where)) : resolve(client))),
    );
  };
  return { db: drizzle(pool), label: settings.label, close: () => pool.end() };
}

/**
 * node-postgres's errors for a connection that was never set up, with the codes postgres.js
 * gives the same events (its own carry none): the other end closed it during the handshake, or
 * the handshake did not finish within the connect timeout. Any other error is returned as is.
 */
function notSetUp(error: Error, where: URL): Error {
  const port = where.port ? Number(where.port) : 5432;
  const cause = { cause: error };
  if (error.message === 'Connection terminated unexpectedly') {
    return Object.assign(closedUnansweredError(where.hostname, port), cause);
  }
  if (error.message === 'Connection terminated due to connection timeout') {
    return Object.assign(new Error('the server did not answer the connection in time', cause), {
      code: 'CONNECT_TIMEOUT',
      address: where.hostname,
      port,
    });
  }
  return error;
}
