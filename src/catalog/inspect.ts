import { type SQL, sql } from 'drizzle-orm';
import { boundKey, compareKeys, parseBound } from '../define/bounds.js';
import { addIntervals } from '../define/intervals.js';
import { isManagedComment } from '../define/marker.js';
import type { ListValue, PartitionKey } from '../define/partition-key.js';
import { type FamilySpec, listValueType, parseFamily } from '../define/spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { DEFAULT_LOCK_TIMEOUT_MS, lockTimeoutSql } from '../run/lock-timeout.js';
import { rowsOf } from '../run/rows.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { findAnomalies, type IndexOrderIssue } from './anomalies.js';
import { RETIRED_KEYS_TABLE } from './retired-keys.js';
import {
  type DefaultRows,
  type FamilySnapshot,
  matchesSpec,
  type ParentInfo,
  type PartitionInfo,
  type Snapshot,
  type TableSnapshot,
} from './snapshot.js';

export type * from './snapshot.js';

/** Keys retireKey recorded for the family; none when the table does not exist yet. */
async function readRetiredKeys(db: AnyPgDatabase, family: FamilySpec): Promise<string[]> {
  const table = `${family.schema}.${RETIRED_KEYS_TABLE}`;
  const [exists] = rowsOf<{ t: string | null }>(
    await db.execute(sql`SELECT to_regclass(${table})::text AS t`),
  );
  if (!exists?.t) return [];
  const rows = rowsOf<{ key: string }>(
    await db.execute(
      sql`SELECT key FROM ${sql.identifier(family.schema)}.${sql.identifier(RETIRED_KEYS_TABLE)}
          WHERE family = ${family.name} ORDER BY key`,
    ),
  );
  return rows.map((r) => r.key);
}

export interface InspectOptions {
  /** lock_timeout for the catalog reads (sizes and DEFAULT counts take ACCESS SHARE locks). */
  lockTimeoutMs?: number;
}

interface ParentRow {
  schema: string;
  name: string;
  oid: string;
  relkind: string;
  strategy: string | null;
  keydef: string | null;
  key_columns: string | null;
  key_type: string | null;
  referenced: { schema: string; name: string }[] | string | null;
  referencing: { schema: string; name: string }[] | string | null;
}

/** A json column as the driver gives it: parsed already (postgres.js) or as text. */
function jsonList(value: ParentRow['referenced']): { schema: string; name: string }[] {
  if (!value) return [];
  return typeof value === 'string' ? JSON.parse(value) : value;
}

interface PartitionRow {
  parent_schema: string;
  parent: string;
  schema: string;
  name: string;
  bound: string;
  comment: string | null;
  bytes: number | string;
  reltuples: number | string;
}

interface IndexRow {
  parent_schema: string;
  parent: string;
  partition: string;
  index: string;
  parent_index: string;
  option: string;
  parent_option: string;
}

const STRATEGIES = { l: 'list', r: 'range', h: 'hash' } as const;

function tupleList(tables: { schema: string; name: string }[]): SQL {
  return sql.join(
    tables.map((t) => sql`(${t.schema}::text, ${t.name}::text)`),
    sql`, `,
  );
}

async function readParents(
  db: AnyPgDatabase,
  tables: { schema: string; name: string }[],
): Promise<Map<string, ParentInfo>> {
  const rows = rowsOf<ParentRow>(
    await db.execute(sql`
      SELECT n.nspname AS schema, c.relname AS name, c.oid::text AS oid, c.relkind::text AS relkind,
             pt.partstrat::text AS strategy,
             CASE WHEN pt.partrelid IS NOT NULL THEN pg_get_partkeydef(c.oid) END AS keydef,
             (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                FROM unnest(pt.partattrs::int2[]) WITH ORDINALITY k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS key_columns,
             (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]) AS key_type,
             (SELECT json_agg(json_build_object('schema', rn.nspname, 'name', r.relname) ORDER BY rn.nspname, r.relname)
                FROM (SELECT DISTINCT k.confrelid FROM pg_constraint k
                      WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confrelid <> c.oid) f
                JOIN pg_class r ON r.oid = f.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace) AS referenced,
             (SELECT json_agg(json_build_object('schema', rn.nspname, 'name', r.relname) ORDER BY rn.nspname, r.relname)
                FROM (SELECT DISTINCT k.conrelid FROM pg_constraint k
                      WHERE k.confrelid = c.oid AND k.contype = 'f' AND k.conparentid = 0 AND k.conrelid <> c.oid) f
                JOIN pg_class r ON r.oid = f.conrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace) AS referencing
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
      WHERE c.relkind IN ('r', 'p') AND (n.nspname::text, c.relname::text) IN (${tupleList(tables)})`),
  );
  const parents = new Map<string, ParentInfo>();
  for (const row of rows) {
    // An expression in the key (attnum 0) has no column: keyColumns stays shorter than the key.
    const columns = row.key_columns ? row.key_columns.split(',') : [];
    parents.set(`${row.schema}.${row.name}`, {
      oid: row.oid,
      relkind: row.relkind,
      strategy: row.strategy ? STRATEGIES[row.strategy as keyof typeof STRATEGIES] : null,
      keyColumns: columns,
      keyDefinition: row.keydef,
      keyType: row.key_type,
      referencedTables: jsonList(row.referenced),
      referencingTables: jsonList(row.referencing),
    });
  }
  return parents;
}

async function readPartitions(
  db: AnyPgDatabase,
  tables: { schema: string; name: string }[],
): Promise<PartitionRow[]> {
  return rowsOf<PartitionRow>(
    await db.execute(sql`
      SELECT pn.nspname AS parent_schema, p.relname AS parent, n.nspname AS schema, c.relname AS name,
             pg_get_expr(c.relpartbound, c.oid) AS bound,
             obj_description(c.oid, 'pg_class') AS comment,
             pg_total_relation_size(c.oid)::float8 AS bytes,
             c.reltuples::float8 AS reltuples
      FROM pg_inherits i
      JOIN pg_class p ON p.oid = i.inhparent
      JOIN pg_namespace pn ON pn.oid = p.relnamespace
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE p.relkind = 'p' AND (pn.nspname::text, p.relname::text) IN (${tupleList(tables)})
      ORDER BY c.relname`),
  );
}

/** Partition indexes whose ASC/DESC flags differ from the parent index they belong to (facts 17). */
async function readIndexOrderIssues(
  db: AnyPgDatabase,
  tables: { schema: string; name: string }[],
): Promise<IndexRow[]> {
  return rowsOf<IndexRow>(
    await db.execute(sql`
      SELECT pn.nspname AS parent_schema, p.relname AS parent, c.relname AS partition,
             ic.relname AS index, pic.relname AS parent_index,
             x.indoption::text AS option, px.indoption::text AS parent_option
      FROM pg_index px
      JOIN pg_class p ON p.oid = px.indrelid
      JOIN pg_namespace pn ON pn.oid = p.relnamespace
      JOIN pg_class pic ON pic.oid = px.indexrelid
      JOIN pg_inherits ii ON ii.inhparent = px.indexrelid
      JOIN pg_index x ON x.indexrelid = ii.inhrelid
      JOIN pg_class ic ON ic.oid = x.indexrelid
      JOIN pg_class c ON c.oid = x.indrelid
      WHERE (pn.nspname::text, p.relname::text) IN (${tupleList(tables)})
        AND x.indoption::text <> px.indoption::text
      ORDER BY c.relname, ic.relname`),
  );
}

/**
 * A partition's key as the family's spec reads it: a LIST value of the family's type (an integer
 * family does not own a text-valued partition; in a text family, '14' is text), or null.
 */
function familyKey(family: FamilySpec, key: PartitionKey | undefined): PartitionKey | null {
  if (!key) return null;
  const p = family.partitionBy;
  if (key.kind !== 'list' || p.strategy !== 'list') return key;
  if (listValueType(p) === 'text') return { kind: 'list', value: String(key.value) };
  return typeof key.value === 'number' ? key : null;
}

/** Every value of the spec's `valuesFrom` column, or why it cannot be read. */
async function readSourceValues(
  db: AnyPgDatabase,
  family: FamilySpec,
): Promise<{ values: ListValue[] | null; error: string | null }> {
  const p = family.partitionBy;
  if (p.strategy !== 'list' || !p.valuesFrom) return { values: null, error: null };
  const source = p.valuesFrom;
  const where = `${source.schema}.${source.table}.${source.column}`;
  const found = rowsOf<{ ok: boolean }>(
    await db.execute(sql`
      SELECT EXISTS (SELECT 1 FROM pg_attribute
                     WHERE attrelid = to_regclass(${quoteQualified(source.schema, source.table)})
                       AND attname = ${source.column} AND NOT attisdropped) AS ok`),
  );
  if (!found[0]?.ok) {
    return {
      values: null,
      error: `valuesFrom ${where} does not exist (is the table created, and the column named so?)`,
    };
  }
  const rows = rowsOf<{ v: string }>(
    await db.execute(
      sql.raw(
        `SELECT DISTINCT ${quoteIdent(source.column)}::text AS v FROM ` +
          `${quoteQualified(source.schema, source.table)} WHERE ${quoteIdent(source.column)} IS NOT NULL`,
      ),
    ),
  );
  if (listValueType(p) === 'text') {
    return { values: rows.map((r) => r.v).sort(), error: null };
  }
  const values: number[] = [];
  for (const row of rows) {
    const value = Number(row.v);
    if (!/^-?\d+$/.test(row.v) || !Number.isSafeInteger(value)) {
      return {
        values: null,
        error: `valuesFrom ${where} holds ${JSON.stringify(row.v)}, not an integer`,
      };
    }
    values.push(value);
  }
  return { values: values.sort((a, b) => a - b), error: null };
}

/** Exact row counts of a DEFAULT partition, grouped by LIST value or by the spec's interval. */
async function readDefaultRows(
  db: AnyPgDatabase,
  family: FamilySpec,
  partition: { schema: string; name: string },
  keyColumn: string,
): Promise<DefaultRows> {
  const p = family.partitionBy;
  const column = quoteIdent(keyColumn);
  // With TimeZone UTC set, ::timestamp turns a timestamptz into its UTC wall time; date and
  // timestamp keys are zone-free already. date_trunc('week') starts on Monday, like the spec.
  const bucket =
    p.strategy === 'list'
      ? `${column}::text`
      : `to_char(date_trunc('${p.interval}', ${column}::timestamp), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
  const rows = rowsOf<{ k: string | null; n: number | string }>(
    await db.execute(
      sql.raw(
        `SELECT ${bucket} AS k, count(*)::float8 AS n FROM ${quoteQualified(partition.schema, partition.name)} GROUP BY 1`,
      ),
    ),
  );
  const result: DefaultRows = { total: 0, byKey: [], other: 0 };
  for (const row of rows) {
    const n = Number(row.n);
    result.total += n;
    let key: PartitionKey | undefined;
    if (row.k !== null && p.strategy === 'list' && listValueType(p) === 'text') {
      key = { kind: 'list', value: row.k };
    } else if (row.k !== null && p.strategy === 'list' && /^-?\d+$/.test(row.k)) {
      const value = Number(row.k);
      if (Number.isSafeInteger(value)) key = { kind: 'list', value };
    } else if (row.k !== null && p.strategy === 'range') {
      const from = new Date(row.k);
      if (!Number.isNaN(from.getTime())) {
        key = { kind: 'range', from, to: addIntervals(p.interval, from, 1) };
      }
    }
    if (key) result.byKey.push({ key, rows: n });
    else result.other += n;
  }
  result.byKey.sort((a, b) => compareKeys(a.key, b.key));
  return result;
}

/** Sort order of partitions: DEFAULT first, then by key, unparsed bounds last; ties by name. */
function partitionOrder(a: PartitionInfo, b: PartitionInfo): number {
  const ka: PartitionKey | null = a.isDefault ? { kind: 'default' } : a.key;
  const kb: PartitionKey | null = b.isDefault ? { kind: 'default' } : b.key;
  const byKey = ka && kb ? compareKeys(ka, kb) : ka ? -1 : kb ? 1 : 0;
  if (byKey !== 0) return byKey;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Reads the snapshot of `families` from the live database: every partition of every declared
 * parent with its parsed bounds, DEFAULT row counts, sizes, the pgparts marker, the parents'
 * actual partition keys, `valuesFrom` values, and anomalies. Reads only; runs in one
 * transaction, on one connection.
 */
export async function inspect(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: InspectOptions = {},
): Promise<Snapshot> {
  const specs = families.map((f) => parseFamily(f));
  const lockTimeout = lockTimeoutSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const tables = specs.flatMap((f) => f.tables.map((name) => ({ schema: f.schema, name })));

  return db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL TimeZone = 'UTC'`);
    await tx.execute(sql`SET LOCAL DateStyle = 'ISO, YMD'`);
    await tx.execute(sql.raw(`SET LOCAL ${lockTimeout}`));
    const [clock] = rowsOf<{ ms: number | string; version: string }>(
      await tx.execute(sql`SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms,
                                  current_setting('server_version_num') AS version`),
    );
    const none = tables.length === 0;
    const parents = none ? new Map<string, ParentInfo>() : await readParents(tx, tables);
    const partitionRows = none ? [] : await readPartitions(tx, tables);
    const indexRows = none ? [] : await readIndexOrderIssues(tx, tables);

    const familySnapshots: FamilySnapshot[] = [];
    for (const family of specs) {
      const tableSnapshots: TableSnapshot[] = [];
      for (const name of family.tables) {
        const table: TableSnapshot = {
          schema: family.schema,
          name,
          parent: parents.get(`${family.schema}.${name}`) ?? null,
          partitions: [],
        };
        const readable = matchesSpec(family, table.parent);
        for (const row of partitionRows) {
          if (row.parent_schema !== family.schema || row.parent !== name) continue;
          const parsed = parseBound(row.bound);
          const key = readable ? familyKey(family, boundKey(parsed)) : null;
          const isDefault = parsed.kind === 'default';
          const reltuples = Number(row.reltuples);
          table.partitions.push({
            schema: row.schema,
            name: row.name,
            bound: row.bound,
            key,
            isDefault,
            managed: isManagedComment(row.comment),
            comment: row.comment,
            bytes: Number(row.bytes),
            estimatedRows: reltuples >= 0 ? reltuples : null,
            defaultRows:
              isDefault && readable
                ? await readDefaultRows(tx, family, row, family.partitionBy.column)
                : null,
          });
        }
        table.partitions.sort(partitionOrder);
        tableSnapshots.push(table);
      }
      const source = await readSourceValues(tx, family);
      const indexIssues: IndexOrderIssue[] = indexRows
        .filter((r) => r.parent_schema === family.schema && family.tables.includes(r.parent))
        .map((r) => ({
          table: r.parent,
          partition: r.partition,
          index: r.index,
          parentIndex: r.parent_index,
          option: r.option,
          parentOption: r.parent_option,
        }));
      familySnapshots.push({
        name: family.name,
        tables: tableSnapshots,
        sourceValues: source.values,
        sourceError: source.error,
        retiredKeys: await readRetiredKeys(tx, family),
        anomalies: findAnomalies(family, tableSnapshots, indexIssues),
      });
    }
    return {
      takenAt: new Date(Number(clock?.ms)),
      serverVersion: Number(clock?.version),
      families: familySnapshots,
    };
  });
}
