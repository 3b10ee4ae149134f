import postgres from 'postgres';

/**
 * One connection to the server's admin database per worker process, for every database this
 * worker creates and drops (vitest.config.ts: a worker keeps its modules from one file to the
 * next). A connection of its own for each CREATE and each DROP cost the server a backend's start
 * (about 33 ms of CPU measured on the 2-core test machine: a fork, the page faults of a new
 * process, the password's SCRAM check) and postgres.js's query for array types (12 ms more), two
 * of them per test database, some 140 databases a run. It closes itself when idle, so a worker
 * that has no more files to run leaves no connection open.
 */
const admins = new Map<string, postgres.Sql>();

function admin(adminUrl: string): postgres.Sql {
  let client = admins.get(adminUrl);
  if (!client) {
    // fetch_types off: it only sends CREATE and DROP DATABASE, and reads an int.
    client = postgres(adminUrl, {
      max: 1,
      idle_timeout: 20,
      fetch_types: false,
      onnotice: () => {},
    });
    admins.set(adminUrl, client);
  }
  return client;
}

/**
 * Creates a test database, as a copy of `template` when given, and drops it, through the
 * worker's admin connection.
 *
 * From PostgreSQL 15 a copy is made with STRATEGY FILE_COPY: the default (WAL_LOG) reads every
 * page of the template and writes it to the WAL. Measured on the test server for the migrated
 * template (12 MB, 870 relations), in the creating server process's CPU: 130-160 ms for
 * FILE_COPY, nearly all of it in the kernel copying files (after a checkpoint, which the test
 * server, run without fsync, makes cheaply), against 160-280 ms for WAL_LOG. A run creates about
 * a hundred databases on two cores shared with everything else it does.
 */
export async function createDatabase(
  adminUrl: string,
  name: string,
  template?: string,
): Promise<void> {
  const sql = admin(adminUrl);
  const [row] = await sql<{ v: number }[]>`
    SELECT current_setting('server_version_num')::int AS v`;
  const from = template
    ? ` TEMPLATE "${template}"${(row?.v ?? 0) >= 150000 ? ' STRATEGY FILE_COPY' : ''}`
    : '';
  await sql.unsafe(`CREATE DATABASE "${name}"${from}`);
}

/** Drops a test database even with clients left connected to it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await admin(adminUrl).unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
