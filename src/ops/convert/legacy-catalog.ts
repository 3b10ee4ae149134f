import { type SQL, sql } from 'drizzle-orm';
import { parseStatisticsTargets, statisticsTargetsJson } from '../../catalog/statistics-targets.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import type { StatisticsTarget } from '../../sql/statistics-targets.js';
import { query, withSearchPath } from './run-sql.js';

/** A text[] parameter (drizzle would expand a JS array into a row). */
const textArray = (values: readonly string[]): SQL =>
  sql`ARRAY(SELECT jsonb_array_elements_text(${JSON.stringify(values)}::jsonb))`;

/** A column as the server has it; `default` is the server's own rendering, fully qualified. */
export interface CatalogColumn {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  identity: boolean;
  generated: boolean;
}

export interface CatalogTable {
  schema: string;
  name: string;
  /** 'r' ordinary, 'p' partitioned */
  kind: string;
  columns: CatalogColumn[];
  primaryKey: string[];
  /** Columns whose default draws from a sequence the table owns (serial / bigserial). */
  sequences: { column: string; sequence: string }[];
  /** The tablespace the table's data is in, when it names one (null: the database's default). */
  tablespace: string | null;
  /** The columns whose statistics target the table sets (ALTER COLUMN ... SET STATISTICS). */
  statisticsTargets: StatisticsTarget[];
}

/** One table's shape, or null when it does not exist. Defaults print schema-qualified. */
export async function readTable(
  db: AnyPgDatabase,
  schema: string,
  name: string,
): Promise<CatalogTable | null> {
  return withSearchPath(db, '', async (tx) => {
    const found = await query<{
      oid: string;
      kind: string;
      tablespace: string | null;
      statistics: unknown;
    }>(
      tx,
      sql`SELECT c.oid::text AS oid, c.relkind::text AS kind,
                 (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace) AS tablespace,
                 ${statisticsTargetsJson(sql.raw('c.oid'))} AS statistics
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${schema} AND c.relname = ${name} AND c.relkind IN ('r', 'p')`,
    );
    const table = found[0];
    if (!table) return null;
    const columns = await query<{
      name: string;
      type: string;
      not_null: boolean;
      default: string | null;
      identity: string;
      generated: string;
    }>(
      tx,
      sql`SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                 a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default,
                 a.attidentity::text AS identity, a.attgenerated::text AS generated
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = ${table.oid}::oid AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`,
    );
    const pk = await query<{ name: string }>(
      tx,
      sql`SELECT a.attname AS name FROM pg_index i
          CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = ${table.oid}::oid AND i.indisprimary ORDER BY k.ord`,
    );
    const sequences = await query<{ column: string; sequence: string }>(
      tx,
      sql`SELECT a.attname AS column, s.seq AS sequence FROM pg_attribute a
          CROSS JOIN LATERAL (SELECT pg_get_serial_sequence(${quoteQualified(schema, name)}, a.attname) AS seq) s
          WHERE a.attrelid = ${table.oid}::oid AND a.attnum > 0 AND NOT a.attisdropped
            AND s.seq IS NOT NULL`,
    );
    return {
      schema,
      name,
      kind: table.kind,
      columns: columns.map((c) => ({
        name: c.name,
        type: c.type,
        notNull: c.not_null,
        default: c.default,
        identity: c.identity !== '',
        generated: c.generated !== '',
      })),
      primaryKey: pk.map((p) => p.name),
      sequences,
      tablespace: table.tablespace,
      statisticsTargets: parseStatisticsTargets(table.statistics),
    };
  });
}

/** A view or materialized view that reads the given tables, directly or through other views. */
export interface DependentView {
  schema: string;
  name: string;
  materialized: boolean;
  /** Longest chain of views down to a converted table: create in increasing depth. */
  depth: number;
  /** pg_get_viewdef, printed with the family schema on the search_path (names unqualified). */
  definition: string;
  /** CREATE INDEX statements of a materialized view, printed the same way. */
  indexes: string[];
  /** Has a unique index without WHERE, so REFRESH ... CONCURRENTLY works (docs/postgres-behaviours.md#refresh-concurrently). */
  refreshConcurrently: boolean;
  /** schema.name as pg_get_indexdef prints it */
  printedName: string;
}

/**
 * Every view depending on `tables` (in `schema`), recursively, with its definition printed while
 * only `schema` is on the search_path: the definition names the tables unqualified, so re-creating
 * it with another schema first binds it to that schema's tables of the same names (docs/postgres-behaviours.md#views-bind-to-tables).
 */
export async function dependentViews(
  db: AnyPgDatabase,
  schema: string,
  tables: readonly string[],
): Promise<DependentView[]> {
  return withSearchPath(db, quoteIdent(schema), async (tx) => {
    const rows = await query<{
      schema: string;
      name: string;
      kind: string;
      depth: number;
      definition: string;
      indexes: string[] | null;
      concurrent: boolean;
      printed: string;
    }>(
      tx,
      sql`WITH RECURSIVE base AS (
            SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ${schema} AND c.relname = ANY(${textArray(tables)})
          ), deps(oid, depth) AS (
            SELECT DISTINCT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
            WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
              AND d.refobjid IN (SELECT oid FROM base) AND r.ev_class <> d.refobjid
            UNION
            SELECT r.ev_class, deps.depth + 1 FROM deps
            JOIN pg_depend d ON d.refobjid = deps.oid AND d.classid = 'pg_rewrite'::regclass
              AND d.refclassid = 'pg_class'::regclass
            JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> deps.oid
            WHERE deps.depth < 50
          )
          SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
                 max(deps.depth)::int AS depth, pg_get_viewdef(c.oid) AS definition,
                 (SELECT array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid)
                    FROM pg_index i WHERE i.indrelid = c.oid) AS indexes,
                 EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique
                           AND i.indpred IS NULL AND i.indexprs IS NULL) AS concurrent,
                 format('%I.%I', n.nspname, c.relname) AS printed
          FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
          GROUP BY n.nspname, c.relname, c.relkind, c.oid
          ORDER BY max(deps.depth), c.relname`,
    );
    return rows.map((r) => ({
      schema: r.schema,
      name: r.name,
      materialized: r.kind === 'm',
      depth: Number(r.depth),
      definition: r.definition.trim().replace(/;$/, ''),
      indexes: r.indexes ?? [],
      refreshConcurrently: r.concurrent,
      printedName: r.printed,
    }));
  });
}

/** A foreign key from a table outside the family into one of the converted tables. */
export interface ExternalForeignKey {
  /** the referencing table, schema-qualified and quoted */
  table: string;
  name: string;
  /** pg_get_constraintdef, printed with the family schema on the search_path */
  definition: string;
  referenced: string;
  referencedColumns: string[];
}

export async function externalForeignKeys(
  db: AnyPgDatabase,
  schema: string,
  tables: readonly string[],
): Promise<ExternalForeignKey[]> {
  return withSearchPath(db, quoteIdent(schema), async (tx) => {
    const rows = await query<{
      from_schema: string;
      from_table: string;
      name: string;
      definition: string;
      referenced: string;
      columns: string[];
    }>(
      tx,
      sql`SELECT fn.nspname AS from_schema, f.relname AS from_table, con.conname AS name,
                 pg_get_constraintdef(con.oid) AS definition, t.relname AS referenced,
                 (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS columns
          FROM pg_constraint con
          JOIN pg_class t ON t.oid = con.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
          JOIN pg_class f ON f.oid = con.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
          WHERE con.contype = 'f' AND con.conparentid = 0
            AND tn.nspname = ${schema} AND t.relname = ANY(${textArray(tables)})
            AND NOT (fn.nspname = ${schema} AND f.relname = ANY(${textArray(tables)}))
          ORDER BY 1, 2, 3`,
    );
    return rows.map((r) => ({
      table: quoteQualified(r.from_schema, r.from_table),
      name: r.name,
      definition: r.definition,
      referenced: r.referenced,
      referencedColumns: r.columns,
    }));
  });
}

/** Whether `schema.table` has a unique index on exactly `columns` (in any order), no WHERE. */
export async function hasUniqueKeyOn(
  db: AnyPgDatabase,
  schema: string,
  table: string,
  columns: readonly string[],
): Promise<boolean> {
  const rows = await query<{ ok: boolean }>(
    db,
    sql`SELECT EXISTS (
          SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${schema} AND c.relname = ${table} AND i.indisunique AND i.indpred IS NULL
            AND (SELECT array_agg(a.attname::text ORDER BY a.attname) FROM unnest(i.indkey) k(attnum)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
                = (SELECT array_agg(x ORDER BY x) FROM unnest(${textArray(columns)}) x)
        ) AS ok`,
  );
  return rows[0]?.ok === true;
}

/** Names of the tables that are partitions of `schema.parent`. */
export async function partitionsOf(
  db: AnyPgDatabase,
  schema: string,
  parent: string,
): Promise<string[]> {
  const rows = await query<{ name: string }>(
    db,
    sql`SELECT c.relname AS name FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE n.nspname = ${schema} AND p.relname = ${parent}`,
  );
  return rows.map((r) => r.name);
}

/** Views and materialized views living in `schema`, dependents before what they read (for dropping). */
export async function viewsIn(
  db: AnyPgDatabase,
  schema: string,
): Promise<{ name: string; materialized: boolean }[]> {
  const rows = await query<{ name: string; kind: string; reads: string[] | null }>(
    db,
    sql`SELECT c.relname AS name, c.relkind::text AS kind,
               (SELECT array_agg(DISTINCT rc.relname::text) FROM pg_rewrite r
                  JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
                  JOIN pg_class rc ON rc.oid = d.refobjid AND rc.relkind IN ('v', 'm')
                  WHERE r.ev_class = c.oid AND rc.oid <> c.oid AND rc.relnamespace = c.relnamespace) AS reads
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relkind IN ('v', 'm')`,
  );
  const reads = new Map(rows.map((r) => [r.name, r.reads ?? []]));
  const depth = new Map<string, number>();
  const depthOf = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    if (seen.has(name)) return 0;
    seen.add(name);
    const d = 1 + Math.max(0, ...(reads.get(name) ?? []).map((r) => depthOf(r, seen)));
    depth.set(name, d);
    return d;
  };
  return rows
    .map((r) => ({ name: r.name, materialized: r.kind === 'm', depth: depthOf(r.name, new Set()) }))
    .sort((a, b) => b.depth - a.depth || a.name.localeCompare(b.name))
    .map(({ name, materialized }) => ({ name, materialized }));
}

/**
 * GRANT statements that give `toSchema.name` the privileges `fromSchema.name` has, for tables
 * and views alike (a re-created view or a new table starts with none: the app's role would get
 * "permission denied" after the swap). Rendered by the server (format %I), since role names are
 * the database's own and may be anything.
 */
export async function copyGrantsSql(
  db: AnyPgDatabase,
  fromSchema: string,
  toSchema: string,
  names: readonly string[],
): Promise<string[]> {
  const rows = await query<{ statement: string }>(
    db,
    sql`SELECT format('GRANT %s ON %I.%I TO %s%s', a.privilege_type, ${toSchema}::text, c.relname,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                      CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) AS statement
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL aclexplode(c.relacl) a
        WHERE n.nspname = ${fromSchema} AND c.relname = ANY(${textArray(names)}) AND a.grantee <> c.relowner
        ORDER BY c.relname, a.grantee, a.privilege_type`,
  );
  return rows.map((r) => r.statement);
}

/** Triggers of the app on the legacy tables (not pgparts's own, not internal FK triggers). */
export async function appTriggers(
  db: AnyPgDatabase,
  schema: string,
  tables: readonly string[],
): Promise<{ table: string; name: string }[]> {
  return query<{ table: string; name: string }>(
    db,
    sql`SELECT c.relname AS table, t.tgname AS name FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relname = ANY(${textArray(tables)})
          AND NOT t.tgisinternal AND t.tgname NOT LIKE 'pgparts\\_%'
        ORDER BY 1, 2`,
  );
}

/** The CHECK constraints of `tables` in `schema`, with the server's text of each. */
export async function checkConstraints(
  db: AnyPgDatabase,
  schema: string,
  tables: readonly string[],
): Promise<{ table: string; name: string; definition: string }[]> {
  return query<{ table: string; name: string; definition: string }>(
    db,
    sql`SELECT c.relname AS table, k.conname AS name, pg_get_constraintdef(k.oid) AS definition
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relname = ANY(${textArray(tables)})
          AND k.contype = 'c' AND k.conparentid = 0
        ORDER BY 1, 2`,
  );
}
