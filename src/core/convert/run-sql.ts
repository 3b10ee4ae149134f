import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../database.js';
import { rowsOf } from '../rows.js';

/** Runs a query and reads its rows, whatever the driver. */
export async function query<T>(db: AnyPgDatabase, statement: SQL | string): Promise<T[]> {
  return rowsOf<T>(
    await db.execute(typeof statement === 'string' ? sql.raw(statement) : statement),
  );
}

/** Runs statements one after the other (DDL built from quoted identifiers only). */
export async function runAll(db: AnyPgDatabase, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await db.execute(sql.raw(statement));
}

/** A transaction whose search_path is `path` (schemas, already quoted) until it ends. */
export async function withSearchPath<T>(
  db: AnyPgDatabase,
  path: string,
  fn: (tx: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT set_config('search_path', ${path}, true)`);
    return fn(tx as unknown as AnyPgDatabase);
  });
}

/** The SQLSTATE of a driver error, also when Drizzle wraps it. */
export function sqlState(error: unknown): string | undefined {
  let e: unknown = error;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The server's message of a driver error, also when Drizzle wraps it. */
export function serverMessage(error: unknown): string {
  let e: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    if (e instanceof Error && !e.message.startsWith('Failed query')) message = e.message;
    e = (e as { cause?: unknown }).cause;
  }
  return message;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
