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

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
