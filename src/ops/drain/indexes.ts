import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../run/database.js';
import { query } from '../../run/execute.js';
import { identifierProblem, quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { dollarQuoted, textLiteral } from '../../sql/literals.js';

/**
 * A drain's tables (the key's staging table, a swap's successor DEFAULT) are created without
 * indexes, filled, and only then given their parent's indexes: one sorted build per index instead
 * of a btree insertion per row copied (and the copy's `ON CONFLICT` then has no index to consult).
 * They are private tables, not attached yet, so a plain CREATE INDEX blocks nobody. ATTACH then
 * finds an index matching each of the parent's and adopts it: it builds nothing under its locks.
 *
 * Each index is rebuilt from the server's own definition of the parent's: `CREATE [UNIQUE] INDEX
 * ON <table>` and the rest of pg_get_indexdef (`USING method (columns) ...`), and for one that
 * backs a constraint (ATTACH wants a constraint there too) the constraint: a primary key made
 * from its index, a unique or exclusion constraint by `ALTER TABLE ... ADD` with
 * pg_get_constraintdef (indexBuildSql). The names are those CREATE TABLE ... LIKE would have
 * given them. A parent whose index definition cannot be split that way, or that keeps an index in
 * a tablespace of its own, gets its drain tables with their indexes from the start, as before.
 *
 * A table's primary key is built beside its other indexes where the drain has a second
 * connection, each build committed on its own. A drain resumed on a table that lacks any of them
 * empties it and copies again, then builds what it lacks (see statements.ts); one that has them
 * all copies again over them (`ON CONFLICT DO NOTHING` skips what is there).
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
 * only when they cannot be built after the copy (`rebuildable` false). Never its identity, as
 * for apply's partitions (sql/partition-ddl.ts): a table with one of its own refuses the copy's
 * values (GENERATED ALWAYS), PostgreSQL 17+ refuses to attach it, and before 17 it became a
 * partition with a sequence of its own, restarting at 1 for inserts straight into it. Without
 * it the copy inserts every value as it is; once attached, the column is the parent's.
 */
export function likeParentSql(parent: string, rebuildable: boolean): string {
  return `(LIKE ${parent} INCLUDING ALL EXCLUDING IDENTITY${rebuildable ? ' EXCLUDING INDEXES' : ''} EXCLUDING COMMENTS)`;
}

/**
 * Drops the identity of `columns` of a drain table an older version made with them (see
 * likeParentSql); their values stay. Nothing when there are none.
 */
export function dropIdentitySql(qualified: string, columns: readonly string[]): string[] {
  if (columns.length === 0) return [];
  return [
    `ALTER TABLE ${qualified} ${columns.map((c) => `ALTER COLUMN ${quoteIdent(c)} DROP IDENTITY IF EXISTS`).join(', ')}`,
  ];
}

/**
 * How a drain table gets the parent's `indexes`, in two lanes that can run at the same time on
 * two connections (one sort each; every build locks the table SHARE only): `keyBuild`, the
 * primary key's index, and `builds`, the other indexes one after the other. Then
 * `constraints`, in one transaction: what ties an index to a constraint.
 *
 * The other indexes are built unnamed, so the server names them as CREATE TABLE ... LIKE would;
 * built in the parent's order in one lane, two of them can never race for the same name (two
 * long column lists cut to the same 63 bytes: the second gets `..._idx1`, as it would have).
 * The primary key is built as a unique index under a working name of its own (keyBuildName),
 * then made the key by `ADD CONSTRAINT ... PRIMARY KEY USING INDEX` (catalog only), which renames
 * it to the name ADD PRIMARY KEY would have chosen (primaryKeyUsingIndexSql): ALTER TABLE ... ADD
 * PRIMARY KEY would hold the table ACCESS EXCLUSIVE for its whole sort and so wait for every
 * other build. `IF NOT EXISTS`: a drain stopped between the two finds its index again and uses
 * it. Unique and exclusion constraints and a deferrable key are added by ALTER TABLE ... ADD in
 * `constraints`, as before.
 */
export function indexBuildSql(
  schema: string,
  table: string,
  indexes: readonly ParentIndex[],
): { keyBuild: string | null; builds: string[]; constraints: string[] } {
  const qualified = quoteQualified(schema, table);
  let keyBuild: string | null = null;
  const builds: string[] = [];
  const constraints: string[] = [];
  for (const index of indexes) {
    if (index.constraint === null) {
      builds.push(
        `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ON ${qualified}${index.definition}`,
      );
    } else if (keyBuild === null && PLAIN_PRIMARY_KEY.test(index.constraint)) {
      const working = keyBuildName(schema, table);
      keyBuild = `CREATE UNIQUE INDEX IF NOT EXISTS ${quoteIdent(working)} ON ${qualified}${index.definition}`;
      constraints.push(primaryKeyUsingIndexSql(schema, table, working));
    } else {
      constraints.push(`ALTER TABLE ${qualified} ADD ${index.constraint}`);
    }
  }
  return { keyBuild, builds, constraints };
}

/** pg_get_constraintdef of a primary key with nothing after its columns (not deferrable). */
const PLAIN_PRIMARY_KEY = /^PRIMARY KEY \([^()]*\)( INCLUDE \([^()]*\))?$/;

/**
 * The working name of a drain table's primary key index until it becomes the key: fixed for the
 * table (a resumed drain finds it again), and no name PostgreSQL or an app would give.
 */
export function keyBuildName(schema: string, table: string): string {
  const digest = createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 16);
  return `pgparts_building_key_${digest}`;
}

/**
 * Makes index `working` the primary key of `table`, named as ADD PRIMARY KEY names one: the
 * table's name cut to fit (at a character boundary, 63 bytes in all) followed by `_pkey`, or by
 * `_pkey1`, `_pkey2`... while that name is taken in the schema (a table renamed keeps its
 * indexes' names: a swap's successor DEFAULT, renamed to DEFAULT, keeps `<…>_next_pkey`). The
 * name is found by the server when it runs, in the same statement.
 */
function primaryKeyUsingIndexSql(schema: string, table: string, working: string): string {
  const body = `
DECLARE
  name text;
  suffix text;
  i int := 0;
BEGIN
  LOOP
    suffix := '_pkey' || CASE WHEN i > 0 THEN i::text ELSE '' END;
    name := ${textLiteral(table)};
    WHILE octet_length(name || suffix) > 63 LOOP
      name := left(name, -1);
    END LOOP;
    name := name || suffix;
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                          WHERE c.relname = name AND c.relnamespace = ${textLiteral(quoteIdent(schema))}::regnamespace);
    i := i + 1;
  END LOOP;
  -- Its NOTICE (the index renamed) says nothing the drain does not.
  PERFORM set_config('client_min_messages', 'warning', true);
  EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',
                 ${textLiteral(quoteQualified(schema, table))}, name, ${textLiteral(working)});
END`;
  return `DO ${dollarQuoted(body)}`;
}

/**
 * After a swap the DEFAULT is its successor renamed, and its indexes keep the names they got on
 * `successor` (`<default>_next_pkey`); the next swap's successor then finds those names taken and
 * its own get a digit (`_pkey1`), swap after swap. Run once the old DEFAULT is dropped (its index
 * names are free): each index of the DEFAULT named from `successor` gets the DEFAULT's own name
 * (`<default>_pkey`), without a digit PostgreSQL added for such a clash, and with one only if
 * that name is taken. ALTER INDEX ... RENAME locks the index alone, SHARE UPDATE EXCLUSIVE (from
 * PostgreSQL 12): writers go on. A constraint's index renames its constraint with it. A name that
 * would not fit in 63 bytes is left as it is.
 */
export function defaultIndexNamesSql(
  schema: string,
  defaultPartition: string,
  successor: string,
): string {
  const body = `
DECLARE
  r record;
  base text;
  name text;
  i int;
BEGIN
  FOR r IN SELECT c.relname FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class c ON c.oid = x.indexrelid
           WHERE x.indrelid = ${textLiteral(quoteQualified(schema, defaultPartition))}::regclass
             AND starts_with(c.relname, ${textLiteral(successor)})
           ORDER BY c.relname LOOP
    base := regexp_replace(${textLiteral(defaultPartition)} || substr(r.relname, length(${textLiteral(successor)}) + 1),
                           '(_pkey|_key|_idx|_excl)[0-9]+$', '\\1');
    name := base;
    i := 0;
    WHILE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                  WHERE c.relname = name AND c.relnamespace = ${textLiteral(quoteIdent(schema))}::regnamespace) LOOP
      i := i + 1;
      name := base || i;
    END LOOP;
    IF octet_length(name) <= 63 THEN
      EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', ${textLiteral(schema)}, r.relname, name);
    END IF;
  END LOOP;
END`;
  return `DO ${dollarQuoted(body)}`;
}
