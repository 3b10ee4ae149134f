import { PgpartsError } from '../errors.js';
/**
 * `db.execute` returns an array of rows on postgres.js and a `{ rows }` result on node-postgres
 * and PGlite. This reads either.
 */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  if (result && typeof result === 'object' && Array.isArray((result as { rows?: unknown }).rows)) {
    return (result as { rows: T[] }).rows;
  }
  throw new PgpartsError('internal', 'pgparts: unrecognised result from db.execute');
}

/**
 * The rows a statement wrote (INSERT, UPDATE, DELETE without RETURNING), whatever the driver:
 * `count` on postgres.js's result, `rowCount` on node-postgres's, `affectedRows` on PGlite's.
 */
export function affectedRowsOf(result: unknown): number {
  if (result && typeof result === 'object') {
    for (const field of ['count', 'rowCount', 'affectedRows'] as const) {
      const value = (result as Record<string, unknown>)[field];
      if (typeof value === 'number') return value;
    }
  }
  throw new PgpartsError('internal', 'pgparts: db.execute returned no count of rows written');
}

/**
 * A json column's value as the driver gives it: parsed already (postgres.js, node-postgres) or
 * as its text (PGlite, a `json` cast some drivers leave alone). null stays null.
 */
export function jsonValue<T>(value: unknown): T {
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
