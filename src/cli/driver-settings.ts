import type { AnyPgDatabase } from '../run/database.js';

/** A connection the CLI opened, whichever driver it went through. */
export interface CliConnection {
  db: AnyPgDatabase;
  /** The URL with its password replaced, for anything printed. */
  label: string;
  close(): Promise<void>;
}

/** What a driver module is given: the checked URL and the timeouts, in whole seconds. */
export interface DriverSettings {
  url: string;
  label: string;
  connectTimeout: number;
  /** statement_timeout; 0 for none. */
  queryTimeout: number;
  replyTimeout: number;
  /** A name of this run's own, so a late reply can be checked against pg_stat_activity. */
  applicationName: string;
}

/**
 * The package `name` loaded by `load` when the app has it installed; undefined when it is not
 * there. A package that is there but fails to load is an error of its own, thrown as it is.
 * `load` is a literal `import('name')`: bundlers keep it a dynamic import of the app's package.
 */
export async function importInstalled<T>(
  name: string,
  load: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await load();
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      typeof message === 'string' &&
      message.includes(`'${name}'`);
    if (missing) return undefined;
    throw error;
  }
}
