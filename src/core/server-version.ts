import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from './database.js';
import { rowsOf } from './rows.js';

/** pgparts relies on PostgreSQL 14+ (DETACH ... CONCURRENTLY, partitioned-table FKs both ways). */
export const MIN_SERVER_VERSION_NUM = 140000;

export async function serverVersionNum(db: AnyPgDatabase): Promise<number> {
  const rows = rowsOf<{ v: string }>(
    await db.execute(sql`SELECT current_setting('server_version_num') AS v`),
  );
  return Number(rows[0]?.v);
}

/** Refuses, with the version it found, to run against a server older than 14. */
export async function assertSupportedServer(db: AnyPgDatabase): Promise<number> {
  const version = await serverVersionNum(db);
  if (!(version >= MIN_SERVER_VERSION_NUM)) {
    throw new Error(
      `pgparts: PostgreSQL ${Math.floor(version / 10000)} (server_version_num ${version}) is not ` +
        'supported; pgparts needs PostgreSQL 14 or newer',
    );
  }
  return version;
}
