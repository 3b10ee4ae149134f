import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from './database.js';
import { rowsOf } from './rows.js';

/** Runs a query and reads its rows, whatever the driver. */
export async function query<T>(db: AnyPgDatabase, statement: SQL | string): Promise<T[]> {
  return rowsOf<T>(
    await db.execute(typeof statement === 'string' ? sql.raw(statement) : statement),
  );
}

/** Runs one statement built from quoted identifiers and DDL literals only. */
export async function run(db: AnyPgDatabase, statement: string): Promise<void> {
  await db.execute(sql.raw(statement));
}

/** Runs statements one after the other (DDL built from quoted identifiers only). */
export async function runAll(db: AnyPgDatabase, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await run(db, statement);
}
