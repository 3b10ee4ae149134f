import type postgres from 'postgres';
import { replyWatchdog } from '../run/reply-watchdog.js';
import { type CliConnection, type DriverSettings, importInstalled } from './driver-settings.js';

/**
 * The CLI's connection over postgres.js, when the app has `postgres` installed (undefined when
 * not): a pool of 4, with the reply watchdog (run/reply-watchdog.ts) on every connection. The
 * package is imported here, on demand, so commands without a database never need it.
 */
export async function connectPostgresJs(
  settings: DriverSettings,
): Promise<CliConnection | undefined> {
  const loaded = await importInstalled('postgres', () => import('postgres'));
  if (!loaded) return undefined;
  const connectWith = loaded.default;
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const { url, connectTimeout, queryTimeout, replyTimeout, applicationName } = settings;
  // A server that stopped answering is not waited for at close either, nor a connection that
  // closed under the command (a backend terminated, the server gone): postgres.js can leave a
  // query of a reserved connection whose server process died pending for good, and its end()
  // then waited the whole timeout before the CLI could exit with its error.
  let stalled = false;
  let ending = false;
  let lost = false;
  // postgres.js takes `socket` (a factory) though its types do not declare it.
  const driverOptions: postgres.Options<Record<string, postgres.PostgresType>> & {
    socket: unknown;
  } = {
    max: 4,
    onnotice: () => {},
    onclose: () => {
      if (!ending) lost = true;
    },
    connect_timeout: connectTimeout,
    connection: {
      application_name: applicationName,
      ...(queryTimeout > 0 ? { statement_timeout: queryTimeout * 1000 } : {}),
    },
    socket: replyWatchdog({
      replyTimeoutS: replyTimeout,
      onGiveUp: () => {
        stalled = true;
      },
      stillRunning: () =>
        statementRunning(connectWith, url, applicationName, Math.min(replyTimeout, connectTimeout)),
    }),
  };
  const sql = connectWith(url, driverOptions);
  return {
    db: drizzle(sql),
    label: settings.label,
    close: () => {
      ending = true;
      return sql.end({ timeout: stalled || lost ? 0 : 5 });
    },
  };
}

/**
 * Whether the server shows a statement of this run (its application_name) running, asked over
 * a connection of its own; false when it cannot say so within `withinS` seconds.
 */
async function statementRunning(
  connectWith: typeof postgres,
  url: string,
  applicationName: string,
  withinS: number,
): Promise<boolean> {
  const probe = connectWith(url, {
    max: 1,
    onnotice: () => {},
    connect_timeout: withinS,
    // One query of ints: no array types to read first (one round trip less to wait for).
    fetch_types: false,
    connection: { application_name: `${applicationName} probe` },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const asked = probe<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE application_name = ${applicationName} AND state = 'active'`;
    const gaveUp = new Promise<null>((done) => {
      timer = setTimeout(() => done(null), withinS * 1000);
    });
    const rows = await Promise.race([asked, gaveUp]);
    asked.catch(() => {});
    return (rows?.[0]?.n ?? 0) > 0;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    await probe.end({ timeout: 0 }).catch(() => {});
  }
}
