import type { AnyPgDatabase } from './database.js';
import { usedAsGiven } from './session.js';

/**
 * The maintenance runs of this process in progress on a single-connection database (a
 * node-postgres Client, PGlite): keyed by the driver's client, so two Drizzle wrappers of one
 * client are one connection.
 *
 * The advisory lock cannot tell two runs apart there: both are the same server session, whose
 * advisory locks stack, and the second run's settings overwrite the first's. So a run started
 * while another holds the connection reports `locked` at once and sends nothing.
 */
const runs = new WeakMap<object, { holderPid: number | null }>();

/** The run in progress on `db`'s connection, when it is one connection used as given. */
export function runOnSameConnection(db: AnyPgDatabase): { holderPid: number | null } | undefined {
  const connection = usedAsGiven(db);
  return connection ? runs.get(connection) : undefined;
}

/**
 * Runs `run` as the connection's run (nothing is kept for a pooled database, where the advisory
 * lock tells runs apart); `run` is given the record to put its lock holder's pid in.
 */
export async function asConnectionRun<T>(
  db: AnyPgDatabase,
  run: (record: { holderPid: number | null }) => Promise<T>,
): Promise<T> {
  const connection = usedAsGiven(db);
  const record = { holderPid: null as number | null };
  if (!connection) return run(record);
  runs.set(connection, record);
  try {
    return await run(record);
  } finally {
    runs.delete(connection);
  }
}
