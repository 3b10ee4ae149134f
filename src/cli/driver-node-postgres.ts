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
  return { db: drizzle(pool), label: settings.label, close: () => pool.end() };
}
