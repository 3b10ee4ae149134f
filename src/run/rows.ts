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
