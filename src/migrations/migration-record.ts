import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';

/**
 * Where applied migrations are recorded: a table of drizzle's own shape (id, hash, created_at).
 * The app's folder is recorded where drizzle-kit records it (drizzle.__drizzle_migrations unless
 * its config says otherwise), so `drizzle-kit migrate` and `pgparts migrate` agree. pgparts's own
 * migrations have a table of their own: neither folder's progress can make the other skip one.
 */
export interface MigrationRecord {
  schema: string;
  table: string;
}

export const PACKAGE_RECORD: MigrationRecord = { schema: 'pgparts', table: 'migrations' };
export const DRIZZLE_RECORD: MigrationRecord = {
  schema: 'drizzle',
  table: '__drizzle_migrations',
};

export function recordSql(record: MigrationRecord): string {
  return quoteQualified(record.schema, record.table);
}

export function createRecordSql(record: MigrationRecord): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(record.schema)}`,
    `CREATE TABLE IF NOT EXISTS ${recordSql(record)} (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
  ];
}

export interface RecordedMigration {
  hash: string;
  createdAt: number;
}

export async function recordExists(db: AnyPgDatabase, record: MigrationRecord): Promise<boolean> {
  const [row] = rowsOf<{ present: boolean }>(
    await db.execute(sql`SELECT to_regclass(${recordSql(record)}) IS NOT NULL AS present`),
  );
  return row?.present === true;
}

export async function recordedMigrations(
  db: AnyPgDatabase,
  record: MigrationRecord,
): Promise<RecordedMigration[]> {
  if (!(await recordExists(db, record))) return [];
  return rowsOf<{ hash: string; created_at: string | number }>(
    await db.execute(sql.raw(`SELECT hash, created_at FROM ${recordSql(record)} ORDER BY id`)),
  ).map((r) => ({ hash: r.hash, createdAt: Number(r.created_at) }));
}

export function insertRecordSql(record: MigrationRecord) {
  return (hash: string, createdAt: number) =>
    sql`INSERT INTO ${sql.raw(recordSql(record))} (hash, created_at) VALUES (${hash}, ${createdAt})`;
}
