import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';
import type { MigrationFile } from './journal.js';
import {
  DRIZZLE_RECORD,
  insertRecordSql,
  type MigrationRecord,
  recordExists,
  recordSql,
} from './migration-record.js';

/**
 * Databases migrated before pgparts kept its own record have its migrations in
 * drizzle.__drizzle_migrations, next to the app's. Those rows (recognised by the file's hash, or
 * by its journal time for a file regenerated in place before migrations were append-only) move to
 * pgparts's record in one transaction: nothing is applied again, and drizzle's record is left
 * holding only the app's migrations, so drizzle-kit's "newer than the last one" rule cannot skip
 * an app migration because of a pgparts one. Returns the tags carried over.
 */
export async function carryOverPackageRecords(
  tx: AnyPgDatabase,
  files: readonly MigrationFile[],
  target: MigrationRecord,
): Promise<string[]> {
  const carried: string[] = [];
  const insert = insertRecordSql(target);
  for (const { file, id } of await drizzleRecordsOf(tx, files)) {
    await tx.execute(insert(file.hash, file.when));
    await tx.execute(sql`DELETE FROM ${sql.raw(recordSql(DRIZZLE_RECORD))} WHERE id = ${id}`);
    carried.push(file.tag);
  }
  return carried;
}

/**
 * The package's migrations drizzle.__drizzle_migrations records (by hash, or by journal time),
 * each with its row there: what carryOverPackageRecords moves, read without moving anything.
 */
export async function drizzleRecordsOf(
  db: AnyPgDatabase,
  files: readonly MigrationFile[],
): Promise<{ file: MigrationFile; id: number }[]> {
  if (!(await recordExists(db, DRIZZLE_RECORD))) return [];
  const rows = rowsOf<{ id: number; hash: string; created_at: string | number }>(
    await db.execute(sql.raw(`SELECT id, hash, created_at FROM ${recordSql(DRIZZLE_RECORD)}`)),
  );
  return files.flatMap((file) => {
    const row = rows.find((r) => r.hash === file.hash || Number(r.created_at) === file.when);
    return row ? [{ file, id: Number(row.id) }] : [];
  });
}
