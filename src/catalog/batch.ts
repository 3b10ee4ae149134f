import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { type BuiltQuery, builtQuery, sendPrepared } from '../run/prepared-statement.js';
import { jsonValue, rowsOf } from '../run/rows.js';

/**
 * Several independent catalog reads in one statement, so one round trip: each read's rows come
 * back as a json array in a column of its own (`r0`, `r1`, ...). A read of `SELECT ... ORDER BY`
 * keeps its order (json_agg takes the rows as the sorted subquery gives them). Values come back
 * as json gives them: text, numbers, booleans, null; the readers read them with Number() or as
 * text already. Each read must be a plain SELECT that returns rows.
 */
export function batchSql(reads: readonly SQL[]): SQL {
  const columns = reads.map(
    (read, i) =>
      sql`(SELECT coalesce(json_agg(q), '[]'::json) FROM (${read}) q) AS ${sql.raw(`r${i}`)}`,
  );
  return sql`SELECT ${sql.join(columns, sql`, `)}`;
}

/** json as the driver gives it: parsed already (postgres.js) or as text (node-postgres: no). */
function jsonRows<T>(value: unknown): T[] {
  if (value === null || value === undefined) return [];
  return jsonValue<T[]>(value);
}

/** A batch as it will be sent: its text, parameters, and how many reads it holds. */
export interface BuiltBatch extends BuiltQuery {
  reads: number;
}

export function buildBatch(db: AnyPgDatabase, reads: readonly SQL[]): BuiltBatch {
  return { ...builtQuery(db, batchSql(reads)), reads: reads.length };
}

/** Whether two built batches are the same statement with the same parameters. */
export function sameBatch(a: BuiltBatch, b: BuiltBatch): boolean {
  return a.sql === b.sql && JSON.stringify(a.params) === JSON.stringify(b.params);
}

/**
 * Sends a built batch (buildBatch); its reads' rows, in order. As a named prepared statement
 * (run/prepared-statement.ts): planning the batch costs more than running it, and a connection
 * that runs maintenance again keeps the statement (inspect plans it generically).
 */
export async function sendBatch(
  db: AnyPgDatabase,
  batch: BuiltBatch,
): Promise<Record<string, unknown>[][]> {
  if (batch.reads === 0) return [];
  const [row] = rowsOf<Record<string, unknown>>(await sendPrepared(db, 'catalog', batch));
  return Array.from({ length: batch.reads }, (_, i) =>
    jsonRows<Record<string, unknown>>(row?.[`r${i}`]),
  );
}

/** Runs `reads` in one round trip (batchSql); their rows in the same order. */
export function readBatch(
  db: AnyPgDatabase,
  reads: readonly SQL[],
): Promise<Record<string, unknown>[][]> {
  if (reads.length === 0) return Promise.resolve([]);
  return sendBatch(db, buildBatch(db, reads));
}
