import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../run/database.js';
import { query } from '../../run/execute.js';
import { identifierProblem, quoteQualified } from '../../sql/identifiers.js';

/**
 * A drain's tables (the key's staging table, a swap's successor DEFAULT) are created without
 * indexes, filled, and only then given their parent's indexes: one sorted build per index instead
 * of a btree insertion per row copied (and the copy's `ON CONFLICT` then has no index to consult).
 * They are private tables, not attached yet, so a plain CREATE INDEX blocks nobody. ATTACH then
 * finds an index matching each of the parent's and adopts it: it builds nothing under its locks.
 *
 * Each index is rebuilt from the server's own definition of the parent's: `ALTER TABLE ... ADD`
 * with pg_get_constraintdef for one that backs a constraint (primary key, unique, exclusion: ATTACH
 * wants a constraint there too), `CREATE [UNIQUE] INDEX ON <table>` and the rest of
 * pg_get_indexdef (`USING method (columns) ...`) for the others. Unnamed, so the server picks the
 * names CREATE TABLE ... LIKE would have given them. A parent whose index definition cannot be
 * split that way, or that keeps an index in a tablespace of its own, gets its drain tables with
 * their indexes from the start, as before.
 *
 * A table's indexes are built in one transaction: it has all of them or none from the build. A
 * drain resumed on a table that lacks any of them empties it and copies again (see
 * statements.ts); one that has them all copies again over them (`ON CONFLICT DO NOTHING` skips
 * what is there).
 */

/** One index of a parent, as a drain table rebuilds it. */
export interface ParentIndex {
  /** What an index must be to match it: constraint kind, uniqueness and definition. */
  signature: string;
  /** pg_get_constraintdef of the constraint it backs; null for a plain index. */
  constraint: string | null;
  unique: boolean;
  /** pg_get_indexdef after `... ON [ONLY] schema.table`: ` USING method (columns) ...`. */
  definition: string;
}

interface IndexRow {
  contype: string | null;
  unique: boolean;
  constraint: string | null;
  def: string;
  prefix: string;
  ownTablespace: boolean;
}

/** What an index is, from its definition's tail; null when the definition cannot be split. */
function describe(row: IndexRow): ParentIndex | null {
  if (!row.def.startsWith(row.prefix)) return null;
  const definition = row.def.slice(row.prefix.length);
  if (!definition.startsWith(' USING ')) return null;
  return {
    signature: `${row.contype ?? 'index'} ${row.unique ? 'unique' : 'plain'}${definition}`,
    constraint: row.constraint,
    unique: row.unique,
    definition,
  };
}

/**
 * The indexes of `table` in creation order (null when the table does not exist: none). Run with
 * search_path = pg_catalog, so that the definitions name everything outside pg_catalog with its
 * schema (they are pasted into DDL run under the caller's search_path).
 */
async function readIndexes(
  tx: AnyPgDatabase,
  schema: string,
  table: string,
): Promise<(ParentIndex | null)[]> {
  if (identifierProblem(table)) return [];
  const rows = await query<IndexRow>(
    tx,
    sql`SELECT con.contype AS contype, i.indisunique AS unique,
               CASE WHEN con.oid IS NOT NULL THEN pg_get_constraintdef(con.oid) END AS constraint,
               pg_get_indexdef(i.indexrelid) AS def,
               format('CREATE %sINDEX %I ON %s%I.%I',
                      CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, ic.relname,
                      CASE WHEN c.relkind = 'p' THEN 'ONLY ' ELSE '' END, n.nspname, c.relname) AS prefix,
               ic.reltablespace <> 0 AS "ownTablespace"
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                                    AND con.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = to_regclass(${quoteQualified(schema, table)})
        ORDER BY i.indexrelid`,
  );
  return rows.map((row) => (row.ownTablespace ? null : describe(row)));
}

/** The parent's indexes as its drain tables rebuild them; null when one cannot be rebuilt. */
export async function readParentIndexes(
  tx: AnyPgDatabase,
  schema: string,
  parent: string,
): Promise<ParentIndex[] | null> {
  const indexes = await readIndexes(tx, schema, parent);
  return indexes.every((i) => i !== null) ? (indexes as ParentIndex[]) : null;
}

/** The signatures of a drain table's indexes (none when it does not exist). */
export async function readIndexSignatures(
  tx: AnyPgDatabase,
  schema: string,
  table: string,
): Promise<string[]> {
  const indexes = await readIndexes(tx, schema, table);
  return indexes.map((i) => i?.signature ?? 'unknown');
}

/** The parent's indexes a table lacks (each of its indexes matches one of the parent's at most). */
export function missingIndexes(
  parent: readonly ParentIndex[],
  has: readonly string[],
): ParentIndex[] {
  const left = [...has];
  return parent.filter((index) => {
    const found = left.indexOf(index.signature);
    if (found < 0) return true;
    left.splice(found, 1);
    return false;
  });
}

/**
 * `(LIKE parent ...)` for a drain table: columns, defaults, constraints; the parent's indexes
 * only when they cannot be built after the copy (`rebuildable` false).
 */
export function likeParentSql(parent: string, rebuildable: boolean): string {
  return `(LIKE ${parent} INCLUDING ALL${rebuildable ? ' EXCLUDING INDEXES' : ''} EXCLUDING COMMENTS)`;
}

/** The statements that give `table` (qualified) the parent's `indexes`, in the parent's order. */
export function buildIndexesSql(table: string, indexes: readonly ParentIndex[]): string[] {
  return indexes.map((index) =>
    index.constraint !== null
      ? `ALTER TABLE ${table} ADD ${index.constraint}`
      : `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ON ${table}${index.definition}`,
  );
}
