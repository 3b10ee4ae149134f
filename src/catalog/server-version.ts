import { sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';

/**
 * pgparts relies on PostgreSQL 14+: DETACH PARTITION ... CONCURRENTLY, and foreign keys to and
 * from partitioned tables. Nothing newer is required; test:matrix runs the suite on 14 to 18.
 */
export const MIN_SERVER_VERSION_NUM = 140000;

/** 140023 -> 14, 90624 -> 9 (server_version_num is major * 10000 + minor since PostgreSQL 10). */
export function serverMajor(versionNum: number): number {
  return Math.floor(versionNum / 10000);
}

/**
 * Pure: why a server_version_num cannot be used, or undefined when it can. Kept apart from the
 * query so the refusal is testable for versions no test can start.
 */
export function unsupportedServerReason(versionNum: number): string | undefined {
  if (!Number.isFinite(versionNum) || versionNum <= 0) {
    return (
      `pgparts: the server did not report a usable server_version_num (${versionNum}); ` +
      'pgparts needs PostgreSQL 14 or newer: check that DATABASE_URL points at PostgreSQL'
    );
  }
  if (versionNum < MIN_SERVER_VERSION_NUM) {
    return (
      `pgparts: PostgreSQL ${serverMajor(versionNum)} (server_version_num ${versionNum}) is not ` +
      'supported; pgparts needs PostgreSQL 14 or newer (DETACH PARTITION ... CONCURRENTLY, ' +
      'foreign keys between partitioned tables): upgrade the server, nothing was changed'
    );
  }
  return undefined;
}

export async function serverVersionNum(db: AnyPgDatabase): Promise<number> {
  const rows = rowsOf<{ v: string }>(
    await db.execute(sql`SELECT current_setting('server_version_num') AS v`),
  );
  return Number(rows[0]?.v);
}

/** Refuses, with the version it found, to run against a server older than 14. */
export async function assertSupportedServer(db: AnyPgDatabase): Promise<number> {
  const version = await serverVersionNum(db);
  const reason = unsupportedServerReason(version);
  if (reason) throw new PgpartsError('unsupported-server', reason);
  return version;
}
