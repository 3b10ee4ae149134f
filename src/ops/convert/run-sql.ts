import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../run/database.js';

export { query, runInTransaction } from '../../run/execute.js';

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
