import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../run/database.js';
import { cols } from './layout.js';
import { query } from './run-sql.js';

/**
 * Keyset batches over a table's primary key. Keys travel as JSON text (never parsed in JS, so
 * bigints stay exact) and are read back through the table's own row type, so any key columns
 * and types work: `(s.a, s.b) > (SELECT k.a, k.b FROM jsonb_populate_record(NULL::t, $1) k)`.
 */
export interface KeyRange {
  /** exclusive; null: from the start */
  after: string | null;
  /** inclusive; null: to the end */
  upTo: string | null;
}

export function inRange(table: string, key: readonly string[], range: KeyRange): SQL {
  const parts: SQL[] = [sql.raw('TRUE')];
  const bound = (op: string, json: string) =>
    sql`(${sql.raw(cols(key, 's'))}) ${sql.raw(op)} (SELECT ${sql.raw(cols(key, 'k'))} FROM jsonb_populate_record(NULL::${sql.raw(table)}, ${json}::jsonb) k)`;
  if (range.after !== null) parts.push(bound('>', range.after));
  if (range.upTo !== null) parts.push(bound('<=', range.upTo));
  return sql.join(parts, sql.raw(' AND '));
}

/** The key `size` rows into the range (the end of the next batch), or null if fewer remain. */
export async function batchEnd(
  db: AnyPgDatabase,
  table: string,
  key: readonly string[],
  range: KeyRange,
  size: number,
): Promise<string | null> {
  const rows = await query<{ k: string }>(
    db,
    sql`SELECT to_jsonb(x.*)::text AS k FROM (
          SELECT ${sql.raw(cols(key, 's'))} FROM ${sql.raw(table)} s WHERE ${inRange(table, key, range)}
          ORDER BY ${sql.raw(cols(key, 's'))} OFFSET ${size - 1} LIMIT 1) x`,
  );
  return rows[0]?.k ?? null;
}

/** The greatest key in the table now, or null when it is empty. */
export async function maxKey(
  db: AnyPgDatabase,
  table: string,
  key: readonly string[],
): Promise<string | null> {
  const desc = key.map((c) => `${cols([c], 's')} DESC`).join(', ');
  const rows = await query<{ k: string }>(
    db,
    `SELECT to_jsonb(x.*)::text AS k FROM (SELECT ${cols(key, 's')} FROM ${table} s ORDER BY ${desc} LIMIT 1) x`,
  );
  return rows[0]?.k ?? null;
}
