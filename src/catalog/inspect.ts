import { is, type SQL, sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import { boundKey, compareKeys, parseBound } from '../define/bounds.js';
import { isManagedComment } from '../define/marker.js';
import { type ListValue, type PartitionKey, partitionName } from '../define/partition-key.js';
import { type FamilySpec, listValueType, parseFamilies } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { CHANGE_LOG_TABLE } from '../ops/online-copy/capture.js';
import { checkDatabase } from '../run/check-database.js';
import type { AnyPgDatabase } from '../run/database.js';
import { sendsTogether } from '../run/driver-capabilities.js';
import { afterSentOn } from '../run/execute.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  lockOptionsSchema,
  lockTimeoutSql,
  outcomeError,
  type RetryOptions,
  retryOnLockTimeout,
} from '../run/lock-timeout.js';
import { checkOptions, functionOption, wholeOption } from '../run/options.js';
import { asOperationError } from '../run/pg-error.js';
import { jsonValue, rowsOf } from '../run/rows.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { OWNED_TABLES, OWNERSHIP_ADOPTED } from '../sql/ownership.js';
import { DEFAULT_EXCLUDES_CHECK } from '../sql/partition-ddl.js';
import { findAnomalies, type IndexOrderIssue, sharedRecords } from './anomalies.js';
import { buildBatch, readBatch } from './batch.js';
import { defaultRowsSql, occupancyFromLook, readDefaultRows } from './default-rows.js';
import { rememberOccupancy, wasEmptyLastRead } from './empty-defaults.js';
import { MAINTENANCE_RUNS_TABLE } from './maintenance-runs.js';
import {
  noteOperationsTable,
  OPERATIONS_TABLE,
  operationsFromRows,
  schemaOperationsSql,
} from './operations.js';
import {
  adoptedRowsSql,
  type OwnershipRecords,
  ownedRowsSql,
  ownershipFromRows,
} from './ownership.js';
import { probeKeys } from './probe-keys.js';
import { referencingKeysSql } from './referencing-keys.js';
import { RETIRED_KEYS_TABLE } from './retired-keys.js';
import {
  rememberedSecondBatch,
  rememberSecondBatch,
  sameBatches,
  sendBatches,
  sendGuess,
} from './second-batch-guess.js';
import {
  type FamilySnapshot,
  matchesSpec,
  type ParentInfo,
  type PartitionInfo,
  type Snapshot,
  type TableSnapshot,
} from './snapshot.js';
import { parseStatisticsTargets, statisticsTargetsJson } from './statistics-targets.js';
import { changeLogRowsSql, drainTablesSql, schemaCaptureTriggersSql } from './unfinished.js';

export type * from './snapshot.js';

/** Keys retireKey recorded for the family (the table must exist). */
function retiredKeysSql(family: FamilySpec): SQL {
  return sql`SELECT key FROM ${sql.raw(quoteQualified(family.schema, RETIRED_KEYS_TABLE))}
             WHERE family = ${family.name} ORDER BY key`;
}

/** pgparts's own tables inspect reads, in each family's schema, when they exist. */
const BOOKKEEPING_TABLES = [
  OWNED_TABLES,
  OWNERSHIP_ADOPTED,
  RETIRED_KEYS_TABLE,
  OPERATIONS_TABLE,
  CHANGE_LOG_TABLE,
  MAINTENANCE_RUNS_TABLE,
] as const;

/** Which of BOOKKEEPING_TABLES exist in `schemas`: rows (schema, name, present). */
function bookkeepingPresentSql(schemas: readonly string[]): SQL {
  const rows = schemas.flatMap((schema) =>
    BOOKKEEPING_TABLES.map(
      (name) => sql`(${schema}::text, ${name}::text, ${quoteQualified(schema, name)}::text)`,
    ),
  );
  // And whether the ownership record is still keyed by oid (made by an earlier release): the
  // next change sets it up again (ensureOwnership turns the key into a regclass).
  return sql`SELECT v.schema, v.name, to_regclass(v.q) IS NOT NULL AS present,
                    CASE WHEN v.name = ${OWNED_TABLES} THEN
                      (SELECT a.atttypid = 'oid'::regtype FROM pg_attribute a
                        WHERE a.attrelid = to_regclass(v.q) AND a.attname = 'relid')
                    END AS keyed_by_oid
             FROM (VALUES ${sql.join(rows, sql`, `)}) v(schema, name, q)`;
}

export interface InspectOptions
  extends Pick<RetryOptions, 'retries' | 'backoffMs' | 'maxBackoffMs' | 'onRetry'> {
  /**
   * lock_timeout for the catalog reads (sizes and DEFAULT probes take ACCESS SHARE locks, which
   * wait behind a session holding ACCESS EXCLUSIVE: a long ALTER, a LOCK TABLE). A read that
   * times out is tried again (`retries`, jittered backoff; `onRetry` is told each time), then
   * gives up with a `lock-timeout` error.
   */
  lockTimeoutMs?: number;
  /**
   * Read every partition's pg_total_relation_size (for `status`). Off by default: maintenance
   * needs no sizes, and they cost a file-system call per relation (hundreds of ms at 1,000
   * partitions).
   */
  sizes?: boolean;
  /** Count DEFAULT's rows exactly, per key (`status --exact`): reads all of DEFAULT. */
  exactDefaultRows?: boolean;
  /**
   * The clock the snapshot will be planned for (its premake window is what DEFAULT is probed
   * for); the server's now() by default. apply passes its `now`.
   */
  now?: Date;
}

/**
 * inspect's options, their types checked (a wrong one is an invalid-config error naming it).
 * Loose: plan and status pass their own options on to it.
 */
export const inspectOptionsSchema = z
  .object({
    ...lockOptionsSchema.shape,
    backoffMs: wholeOption(0),
    maxBackoffMs: wholeOption(0),
    onRetry: functionOption.optional(),
    sizes: z.boolean().optional(),
    exactDefaultRows: z.boolean().optional(),
    now: z.date({ error: 'expected a valid Date' }).optional(),
  })
  .loose();

/** A catalog read's options alone, unknown names refused: what the metrics take. */
export const catalogReadOptionsSchema = inspectOptionsSchema
  .pick({ lockTimeoutMs: true, retries: true, backoffMs: true, maxBackoffMs: true, onRetry: true })
  .strict();

/** How a catalog read waits for its locks: what plan, status and the metrics pass on to inspect. */
export type CatalogReadOptions = Pick<
  InspectOptions,
  'lockTimeoutMs' | 'retries' | 'backoffMs' | 'maxBackoffMs' | 'onRetry'
>;

export interface SessionInspectOptions extends InspectOptions {
  /**
   * For a read sent before the decision to make it (apply sends it right behind its lock
   * attempt): inspect waits for this after its first batch, which reads the catalog only and
   * locks no table, and goes on when it resolves true. When it resolves false the read stops
   * there and InspectStopped is thrown. The guess of the second batch (second-batch-guess.ts)
   * goes out with the first; its answer counts only when this resolves true.
   */
  proceed?: PromiseLike<boolean>;
}

export interface SessionSnapshot {
  snapshot: Snapshot;
  /**
   * The statement that put the session's settings back: sent after the last read and not waited
   * for, so it goes out with whatever the caller sends next. Await it before relying on them.
   */
  restored: Promise<void>;
}

/** What inspect throws when its `proceed` resolved false: the read was not wanted after all. */
export class InspectStopped extends Error {
  constructor() {
    super('pgparts: inspect stopped before its table reads: the run it was sent for did not go on');
    this.name = 'InspectStopped';
  }
}

interface SavedSettings {
  tz: string;
  ds: string;
  sp: string;
  lt: string;
  jit: string;
  pcm: string;
  scs: string;
  ms: number | string;
  version: string;
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
  other_owner: string | null;
  tablespace: string | null;
  statistics: unknown;
}

/** A json column as the driver gives it: parsed already (postgres.js) or as text. */
function jsonList(value: ParentRow['referenced']): { schema: string; name: string }[] {
  if (!value) return [];
  return jsonValue(value);
}

interface PartitionRow {
  parent_schema: string;
  parent: string;
  oid: string;
  schema: string;
  name: string;
  bound: string;
  comment: string | null;
  bytes: number | string | null;
  reltuples: number | string;
  detach_pending: boolean;
  excludes_check: boolean;
  /**
   * DEFAULT only: the first column of each valid, unconditional btree index (what serves its
   * probes; default-rows.ts). Read here for every DEFAULT at once: the same catalog join in each
   * DEFAULT's own read was planned once per DEFAULT, most of that read's cost on a connection
   * that had not planned it before.
   */
  index_leads: string[] | string | null;
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

/**
 * The declared tables as (schema, name) pairs of type name, the catalogs' own: compared as text,
 * a lookup could not use pg_class's index on (relname, relnamespace) and scanned all of pg_class,
 * every table of the database, on every read. (Names are at most 63 bytes: identifiers.ts.)
 */
function tupleList(tables: { schema: string; name: string }[]): SQL {
  return sql.join(
    tables.map((t) => sql`(${t.schema}::name, ${t.name}::name)`),
    sql`, `,
  );
}

/**
 * LOCK TABLE in SHARE ROW EXCLUSIVE mode needs UPDATE, DELETE or TRUNCATE on the table (or
 * owning it), while ATTACH takes the same lock on a neighbour without asking. A neighbour the
 * role may not lock is left out of the create step's up-front locks: ATTACH still takes its
 * lock, later and under the same short lock_timeout (docs/locking.md, docs/privileges.md).
 */
const mayLock = sql.raw(
  `(has_table_privilege(r.oid, 'UPDATE') OR has_table_privilege(r.oid, 'DELETE') OR has_table_privilege(r.oid, 'TRUNCATE'))`,
);

/**
 * The declared parents, with the tables their foreign keys reference and the tables whose keys
 * reference them (found by index: referencingKeysSql).
 */
function parentsSql(tables: { schema: string; name: string }[]): SQL {
  return sql`
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
                JOIN pg_class r ON r.oid = f.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
               WHERE ${mayLock}) AS referenced,
             (SELECT json_agg(json_build_object('schema', rn.nspname, 'name', r.relname) ORDER BY rn.nspname, r.relname)
                FROM (${referencingKeysSql(sql.raw('c.oid'), sql.raw('k.conrelid'), sql.raw('k.conrelid <> c.oid'))}) f
                JOIN pg_class r ON r.oid = f.conrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
               WHERE ${mayLock}) AS referencing,
             nullif(pg_get_userbyid(c.relowner), current_user::text) AS other_owner,
             (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace) AS tablespace,
             ${statisticsTargetsJson(sql.raw('c.oid'))} AS statistics
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_partitioned_table pt ON pt.partrelid = c.oid
      WHERE c.relkind IN ('r', 'p') AND (n.nspname, c.relname) IN (${tupleList(tables)})`;
}

/**
 * The oids of the declared parents that are partitioned: the partitions and their indexes are
 * found by them (an index lookup in pg_inherits, where matching names would scan). Read once,
 * as an array (ARRAY(...) runs once; an IN would be planned as a join and matched per row).
 */
function parentOidsSql(tables: { schema: string; name: string }[]): SQL {
  return sql`SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind = 'p' AND (n.nspname, c.relname) IN (${tupleList(tables)})`;
}

function parentsFromRows(rows: readonly ParentRow[]): Map<string, ParentInfo> {
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
      otherOwner: row.other_owner,
      tablespace: row.tablespace,
      statisticsTargets: parseStatisticsTargets(row.statistics),
    });
  }
  return parents;
}

/** A DEFAULT's index_leads as the driver gives the array: parsed json, or its text. */
function indexLeads(row: PartitionRow): string[] {
  const value = row.index_leads;
  if (!value) return [];
  return jsonValue<string[]>(value);
}

/**
 * The parents' partitions. Names, the comment, the leftover CHECK and a DEFAULT's indexes by
 * scalar subqueries: three relations joined instead of seven. On a connection that had not
 * planned it, the planner's search over seven took 7.6-9.7 ms, over three 5.0-5.2 ms; the
 * answers are the same (each subquery finds at most one row, or aggregates).
 */
function partitionsSql(tables: { schema: string; name: string }[], sizes: boolean): SQL {
  const bytes = sizes ? sql`pg_total_relation_size(c.oid)::float8` : sql`NULL::float8`;
  return sql`
      SELECT (SELECT nspname FROM pg_namespace WHERE oid = p.relnamespace) AS parent_schema,
             p.relname AS parent, c.oid::text AS oid,
             (SELECT nspname FROM pg_namespace WHERE oid = c.relnamespace) AS schema,
             c.relname AS name,
             -- 0, not the partition's oid: a bound holds constants only, and given an oid the
             -- function locks that relation (a read would wait behind DDL on any partition,
             -- and take a lock per partition).
             pg_get_expr(c.relpartbound, 0) AS bound,
             (SELECT d.description FROM pg_description d
               WHERE d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0) AS comment,
             ${bytes} AS bytes,
             c.reltuples::float8 AS reltuples,
             i.inhdetachpending AS detach_pending,
             EXISTS (SELECT 1 FROM pg_constraint k
                      WHERE k.conrelid = c.oid AND k.conname = ${DEFAULT_EXCLUDES_CHECK}) AS excludes_check,
             CASE WHEN c.relpartbound IS NOT NULL AND pg_get_expr(c.relpartbound, 0) = 'DEFAULT' THEN
               (SELECT coalesce(array_agg(DISTINCT a.attname::text), '{}') FROM pg_index x
                  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
                 WHERE x.indrelid = c.oid AND x.indisvalid AND x.indpred IS NULL
                   AND (SELECT ic.relam FROM pg_class ic WHERE ic.oid = x.indexrelid) =
                       (SELECT am.oid FROM pg_am am WHERE am.amname = 'btree'))
             END AS index_leads
      FROM pg_inherits i
      JOIN pg_class p ON p.oid = i.inhparent
      JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = ANY (ARRAY(${parentOidsSql(tables)})) AND p.relkind = 'p'
      ORDER BY c.relname`;
}

/** Partition indexes whose ASC/DESC flags differ from the parent index they belong to (docs/postgres-behaviours.md#parent-indexes-and-sort-order). */
function indexOrderIssuesSql(tables: { schema: string; name: string }[]): SQL {
  // Names by scalar subqueries, not joins: they are looked up for the rows returned (almost
  // always none), not for every index of every partition; and three relations to join instead of
  // eight keep the planner's search short (with eight, planning took longer than running it).
  return sql`
      SELECT (SELECT n.nspname FROM pg_class p JOIN pg_namespace n ON n.oid = p.relnamespace
               WHERE p.oid = px.indrelid) AS parent_schema,
             (SELECT relname FROM pg_class WHERE oid = px.indrelid) AS parent,
             (SELECT relname FROM pg_class WHERE oid = x.indrelid) AS partition,
             (SELECT relname FROM pg_class WHERE oid = x.indexrelid) AS index,
             (SELECT relname FROM pg_class WHERE oid = px.indexrelid) AS parent_index,
             x.indoption::text AS option, px.indoption::text AS parent_option
      FROM pg_index px
      JOIN pg_inherits ii ON ii.inhparent = px.indexrelid
      JOIN pg_index x ON x.indexrelid = ii.inhrelid
      WHERE px.indrelid = ANY (ARRAY(${parentOidsSql(tables)}))
        AND x.indoption::int2[] <> px.indoption::int2[]
      ORDER BY 3, 4`;
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
/** The family's `valuesFrom` source, when it has one. */
function valuesSource(family: FamilySpec) {
  const p = family.partitionBy;
  return p.strategy === 'list' && p.valuesFrom ? p.valuesFrom : null;
}

/** Whether the `valuesFrom` column exists: one row, `ok`. */
function sourceExistsSql(source: NonNullable<ReturnType<typeof valuesSource>>): SQL {
  return sql`SELECT EXISTS (SELECT 1 FROM pg_attribute
                     WHERE attrelid = to_regclass(${quoteQualified(source.schema, source.table)})
                       AND attname = ${source.column} AND NOT attisdropped) AS ok`;
}

/** The `valuesFrom` column's distinct values, as text (`v`); read once it is known to exist. */
function sourceValuesSql(source: NonNullable<ReturnType<typeof valuesSource>>): SQL {
  return sql.raw(
    `SELECT DISTINCT ${quoteIdent(source.column)}::text AS v FROM ` +
      `${quoteQualified(source.schema, source.table)} WHERE ${quoteIdent(source.column)} IS NOT NULL`,
  );
}

/** `valuesFrom`'s values, parsed as the spec's value type, or why they could not be. Pure. */
function sourceValuesFromRows(
  family: FamilySpec,
  exists: boolean,
  rows: readonly Record<string, unknown>[],
): { values: ListValue[] | null; error: string | null } {
  const source = valuesSource(family);
  if (!source) return { values: null, error: null };
  const where = `${source.schema}.${source.table}.${source.column}`;
  if (!exists) {
    return {
      values: null,
      error: `valuesFrom ${where} does not exist (is the table created, and the column named so?)`,
    };
  }
  const texts = rows.map((r) => String(r.v));
  if (family.partitionBy.strategy === 'list' && listValueType(family.partitionBy) === 'text')
    return { values: texts.sort(), error: null };
  const values: number[] = [];
  for (const text of texts) {
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(value)) {
      return {
        values: null,
        error: `valuesFrom ${where} holds ${JSON.stringify(text)}, not an integer`,
      };
    }
    values.push(value);
  }
  return { values: values.sort((a, b) => a - b), error: null };
}

/**
 * pgparts owns a partition when its ownership table records it under its current oid, schema and
 * name. Before a family was carried over (ops/ownership.ts), the old rule with the carry-over's
 * extra condition: the marker comment, and the name pgparts derives for the bound.
 */
function isOwned(
  family: FamilySpec,
  table: string,
  row: PartitionRow,
  key: PartitionKey | null,
  ownership: OwnershipRecords,
): boolean {
  if (ownership.adopted.has(family.name)) {
    const record = ownership.byOid.get(row.oid);
    return (
      record?.role === 'partition' &&
      record.family === family.name &&
      record.schema === row.schema &&
      record.name === row.name
    );
  }
  if (!isManagedComment(row.comment) || !key) return false;
  try {
    return partitionName(family, table, key) === row.name;
  } catch {
    return false;
  }
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
 * parent with its parsed bounds, what DEFAULT holds (probed per key the planner may create; see
 * default-rows.ts), the pgparts marker, the parents' actual partition keys, `valuesFrom` values,
 * and anomalies; sizes and exact DEFAULT counts only when asked. Reads only; runs in one
 * transaction, on one connection, tried again when it times out on a lock (InspectOptions).
 */
export async function inspect(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: InspectOptions = {},
): Promise<Snapshot> {
  checkOptions('inspect', inspectOptionsSchema, options);
  checkDatabase('inspect', db);
  const outcome = await retryOnLockTimeout(
    () => readCatalog(db, families, options, false),
    options,
  );
  if (!outcome.value) {
    // A server error as a PgpartsError (query-failed, the driver's error as its cause), as every
    // operation throws it.
    throw asOperationError(
      'inspect',
      outcomeError(outcome, CATALOG_READ, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS),
    );
  }
  return outcome.value.snapshot;
}

/** What waited, in the error of a catalog read that gave up on a lock. */
export const CATALOG_READ = 'reading the catalog (DEFAULT partitions are probed)';

/**
 * inspect on a connection of its own (apply's pinned session), outside any transaction: the
 * reads need none (each sees the catalog as of its own start, as they would in a READ
 * COMMITTED transaction), and without one there is no COMMIT to wait for. The settings are the
 * session's from the first statement to the one that puts them back, sent after the last read.
 */
export function inspectInSession(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: SessionInspectOptions = {},
): Promise<SessionSnapshot> {
  return readCatalog(db, families, options, true);
}

/**
 * How the second batch's reads are grouped into statements, as slot lists. Where statements go
 * out together, the reads of the app's own tables (DEFAULT's probes, a `valuesFrom` source) are
 * a statement of their own: a change to one of those tables (a partition created, detached or
 * dropped changes DEFAULT's constraint) makes the server parse and plan again every cached
 * statement that reads it, and the rest of the batch (about 2-4 ms to plan) then keeps its plan.
 * Elsewhere one statement: a second would cost a round trip of its own.
 */
function secondBatchGroups(
  reads: number,
  ofAppTables: ReadonlySet<number>,
  together: boolean,
): number[][] {
  const all = Array.from({ length: reads }, (_, at) => at);
  if (!together) return [all];
  const catalog = all.filter((at) => !ofAppTables.has(at));
  const app = all.filter((at) => ofAppTables.has(at));
  return [catalog, app].filter((group) => group.length > 0);
}

async function readCatalog(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: SessionInspectOptions,
  inSession: boolean,
): Promise<SessionSnapshot> {
  const proceed = options.proceed;
  const specs = parseFamilies(families);
  const guessKey = JSON.stringify(specs.map((f) => [f.schema, f.name, f.tables]));
  const tables = specs.flatMap((f) => f.tables.map((name) => ({ schema: f.schema, name })));

  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  lockTimeoutSql(lockTimeoutMs); // refuses anything but a positive whole number of ms

  // The caller's settings are read first (the subquery runs before the set_config calls). One
  // round trip for all of it: catalog text (pg_get_partkeydef, pg_get_expr) then names what it
  // names in full, times in UTC, and a backslash in a bound's string once (with
  // standard_conforming_strings off the server doubles it and writes no E'': 'a\b' read back as
  // a\\b was a partition missing on every run). JIT off: the reads are short, a compile would
  // only add to them.
  // Generic plans: the catalog batches are named statements (batch.ts), planned once per
  // connection instead of on every run (planning them costs more than running them).
  const settingsSql = (local: boolean) => sql`
        SELECT s.tz, s.ds, s.sp, s.lt, s.jit, s.pcm, s.scs, s.ms, s.version,
               set_config('TimeZone', 'UTC', ${local}), set_config('DateStyle', 'ISO, YMD', ${local}),
               set_config('search_path', 'pg_catalog', ${local}),
               set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, ${local}),
               set_config('jit', 'off', ${local}),
               set_config('plan_cache_mode', 'force_generic_plan', ${local}),
               set_config('standard_conforming_strings', 'on', ${local})
        FROM (SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds,
                     current_setting('search_path') AS sp, current_setting('lock_timeout') AS lt,
                     current_setting('jit') AS jit, current_setting('plan_cache_mode') AS pcm,
                     current_setting('standard_conforming_strings') AS scs,
                     (extract(epoch FROM now()) * 1000)::float8 AS ms,
                     current_setting('server_version_num') AS version
              OFFSET 0) s`;
  const restoreSql = (saved: SavedSettings, local: boolean) =>
    sql`SELECT set_config('TimeZone', ${saved.tz}, ${local}), set_config('DateStyle', ${saved.ds}, ${local}),
               set_config('search_path', ${saved.sp}, ${local}), set_config('lock_timeout', ${saved.lt}, ${local}),
               set_config('jit', ${saved.jit}, ${local}), set_config('plan_cache_mode', ${saved.pcm}, ${local}),
               set_config('standard_conforming_strings', ${saved.scs}, ${local})`;
  // Sent without waiting for its reply: the catalog batch goes out right behind it and runs
  // under its settings (the connection runs statements in the order they are sent).
  const readSettings = (on: AnyPgDatabase, local: boolean) =>
    on.execute(settingsSql(local)).then((rows) => rowsOf<SavedSettings>(rows)[0]);

  if (inSession) {
    const settingsRead = readSettings(db, false);
    let saved: SavedSettings | undefined;
    let snapshot: Snapshot;
    try {
      [saved, snapshot] = await afterSentOn(db, settingsRead, () => readSnapshot(db, settingsRead));
    } catch (error) {
      // Outside a transaction nothing rolls the settings back: they are put back here, before
      // a retry reads them again as the caller's.
      const set = await settingsRead.catch(() => undefined);
      if (set) await db.execute(restoreSql(set, false)).catch(() => {});
      throw error;
    }
    const restored = saved
      ? db.execute(restoreSql(saved, false)).then(() => undefined)
      : Promise.resolve();
    restored.catch(() => {}); // the caller awaits it
    // A driver that runs one query at a time gets it back before the caller sends more.
    if (!sendsTogether(db)) await restored;
    return { snapshot, restored };
  }

  // Inside a caller's transaction, inspect's is a savepoint, and a local setting would outlive
  // it: the caller's settings are put back before returning. In a transaction of its own, its
  // COMMIT ends them.
  const nested = is(db, PgTransaction);
  const snapshot = await db.transaction(async (tx) => {
    const settingsRead = readSettings(tx, true);
    // Put back after a read that succeeded; a failed one is rolled back (its SET LOCALs with
    // it), and a statement after the failure would only hide its error behind 25P02.
    const [saved, read] = await afterSentOn(tx, settingsRead, () => readSnapshot(tx, settingsRead));
    if (saved && nested) await tx.execute(restoreSql(saved, true));
    return read;
  });
  return { snapshot, restored: Promise.resolve() };

  /**
   * The reads, batched (batch.ts) so their number does not grow with the families: the catalog
   * and which of pgparts's own tables exist; then those tables' records and whether each DEFAULT
   * holds anything; then, only for a DEFAULT that does, what it holds.
   */
  async function readSnapshot(
    tx: AnyPgDatabase,
    clockRead: Promise<{ ms: number | string; version: string } | undefined>,
  ): Promise<Snapshot> {
    const schemas = [...new Set(specs.map((f) => f.schema))];
    // Whether each `valuesFrom` column exists rides along; its values come in the second batch.
    const sources = specs.map(valuesSource);
    const firstRead = readBatch(
      tx,
      tables.length === 0
        ? []
        : [
            parentsSql(tables),
            partitionsSql(tables, options.sizes ?? false),
            indexOrderIssuesSql(tables),
            bookkeepingPresentSql(schemas),
            ...sources.flatMap((source) => (source ? [sourceExistsSql(source)] : [])),
          ],
    );
    // The second batch as the last run on these families sent it, right behind the first
    // (second-batch-guess.ts says why and when its answer is used): its answer only once
    // `proceed` says go, and not once the first has failed.
    let firstFailed = false;
    firstRead.catch(() => {
      firstFailed = true;
    });
    const guessing = inSession && proceed !== undefined && sendsTogether(tx);
    const guess = guessing ? rememberedSecondBatch(guessKey) : undefined;
    const sentEarly = guess && proceed ? sendGuess(tx, guessKey, guess, lockTimeoutMs) : undefined;
    // Its answer, once the run goes on; null when it does not, or the guess failed (the run's
    // own second batch then goes out, and meets what it meets).
    const guessed =
      sentEarly && proceed
        ? Promise.resolve(proceed).then((go) =>
            go && !firstFailed ? sentEarly.catch(() => null) : null,
          )
        : undefined;
    guessed?.catch(() => {}); // read below, or left unread
    const [parentRows = [], partitionRows = [], indexRows = [], presentRows = [], ...sourceRows] =
      await firstRead;
    const sourceFound = new Map<FamilySpec, boolean>();
    for (const [i, family] of specs.filter((_, f) => sources[f]).entries()) {
      sourceFound.set(family, sourceRows[i]?.[0]?.ok === true);
    }
    if (proceed && !(await proceed)) throw new InspectStopped();
    const parents = parentsFromRows(parentRows as unknown as ParentRow[]);
    const present = new Set(
      presentRows.filter((r) => r.present === true).map((r) => `${r.schema}.${r.name}`),
    );
    const has = (schema: string, table: string) => present.has(`${schema}.${table}`);
    // A keyed operation in this process then reads its records without waiting (key-lock.ts).
    for (const schema of schemas) {
      if (has(schema, OPERATIONS_TABLE)) noteOperationsTable(tx, schema);
    }
    const keyedByOid = new Set(
      presentRows.filter((r) => r.keyed_by_oid === true).map((r) => String(r.schema)),
    );
    const clock = await clockRead;
    const now = options.now ?? new Date(Number(clock?.ms));

    // Second round trip: every family's records, and the first probe of every DEFAULT.
    const reads: SQL[] = [];
    /** The slots of reads of the app's own tables (a DEFAULT, a `valuesFrom` source). */
    const ofAppTables = new Set<number>();
    const slot = (read: SQL, appTable = false): number => {
      const at = reads.push(read) - 1;
      if (appTable) ofAppTables.add(at);
      return at;
    };
    const ownershipSlots = new Map<string, { owned: number; adopted: number }>();
    for (const schema of schemas) {
      if (!has(schema, OWNED_TABLES)) continue;
      ownershipSlots.set(schema, {
        owned: slot(ownedRowsSql(schema)),
        adopted: has(schema, OWNERSHIP_ADOPTED) ? slot(adoptedRowsSql(schema)) : -1,
      });
    }
    /**
     * Each declared table's partitions, their bounds parsed once and keyed as the family reads
     * them (no key when the parent does not match the spec): read by the probes below and by
     * the snapshot.
     */
    const partitionsOf = new Map<
      string,
      { row: PartitionRow; key: PartitionKey | null; isDefault: boolean }[]
    >();
    for (const family of specs) {
      for (const name of family.tables) {
        const readable = matchesSpec(family, parents.get(`${family.schema}.${name}`) ?? null);
        partitionsOf.set(
          `${family.schema}.${name}`,
          (partitionRows as unknown as PartitionRow[])
            .filter((row) => row.parent_schema === family.schema && row.parent === name)
            .map((row) => {
              const parsed = parseBound(row.bound);
              return {
                row,
                key: readable ? familyKey(family, boundKey(parsed)) : null,
                isDefault: parsed.kind === 'default',
              };
            }),
        );
      }
    }
    const tablePartitions = (family: FamilySpec, name: string) =>
      partitionsOf.get(`${family.schema}.${name}`) ?? [];
    // Each DEFAULT's first look: does it hold rows, and, if so and an index serves them, which
    // keys and the probes, for the keys the planner may create as far as the catalog tells
    // (`valuesFrom`'s values come in this same batch: keys they add are probed later).
    const occupancySlots = new Map<string, { slot: number; probed: PartitionKey[] }>();
    for (const family of specs) {
      const readable = family.tables.filter((name) =>
        matchesSpec(family, parents.get(`${family.schema}.${name}`) ?? null),
      );
      const defaults = readable.flatMap((name) =>
        tablePartitions(family, name).filter((p) => p.isDefault),
      );
      if (defaults.length === 0) continue;
      const probed = probeKeys(
        family,
        family.tables.map((name) => ({ partitions: tablePartitions(family, name) })),
        null,
        now,
      );
      for (const { row } of defaults) {
        occupancySlots.set(`${row.schema}.${row.name}`, {
          slot: slot(
            sql.raw(
              defaultRowsSql(family, row, probed).firstLook(
                indexLeads(row).includes(family.partitionBy.column),
                !wasEmptyLastRead(`${row.schema}.${row.name}`),
              ),
            ),
            true,
          ),
          probed,
        });
      }
    }
    const familySlots = specs.map((family, f) => ({
      sourceValues:
        sources[f] && sourceFound.get(family)
          ? slot(sourceValuesSql(sources[f] as NonNullable<(typeof sources)[number]>), true)
          : -1,
      retired: has(family.schema, RETIRED_KEYS_TABLE) ? slot(retiredKeysSql(family)) : -1,
      drainTables: slot(drainTablesSql(family, has(family.schema, OWNED_TABLES))),
    }));
    // A schema's operations records and capture triggers in one read each, for all its
    // families: planned once, not once per family (on a new connection six families' own reads
    // took about 9.5 and 8 ms of planning, one family's about 2). Split by family below.
    const schemaSlots = new Map(
      schemas.map((schema) => {
        const inSchema = specs.filter((f) => f.schema === schema);
        const names = inSchema.map((f) => f.name);
        const tablesIn = [...new Set(inSchema.flatMap((f) => f.tables))];
        return [
          schema,
          {
            operations: has(schema, OPERATIONS_TABLE)
              ? slot(schemaOperationsSql(schema, names))
              : -1,
            triggers: slot(schemaCaptureTriggersSql(schema, tablesIn)),
          },
        ];
      }),
    );
    const groups = secondBatchGroups(reads.length, ofAppTables, sendsTogether(tx));
    const second = groups.map((group) =>
      buildBatch(
        tx,
        group.map((at) => reads[at] as SQL),
      ),
    );
    // The same statements, sent earlier: their answers (unless the guess failed: then these).
    const answers =
      (guess && guessed && sameBatches(guess, second) ? await guessed : null) ??
      (await sendBatches(tx, second));
    if (guessing) rememberSecondBatch(guessKey, second);
    const records: Record<string, unknown>[][] = [];
    for (const [g, group] of groups.entries()) {
      for (const [i, at] of group.entries()) records[at] = answers[g]?.[i] ?? [];
    }
    const at = (i: number) => (i >= 0 ? (records[i] ?? []) : []);

    const familySnapshots: FamilySnapshot[] = [];
    for (const [f, family] of specs.entries()) {
      const slots = ownershipSlots.get(family.schema);
      const ownership = slots
        ? ownershipFromRows(at(slots.owned), at(slots.adopted))
        : ownershipFromRows([], []);
      const tableSnapshots: TableSnapshot[] = [];
      for (const name of family.tables) {
        const table: TableSnapshot = {
          schema: family.schema,
          name,
          parent: parents.get(`${family.schema}.${name}`) ?? null,
          partitions: [],
        };
        for (const { row, key, isDefault } of tablePartitions(family, name)) {
          const reltuples = Number(row.reltuples);
          table.partitions.push({
            schema: row.schema,
            name: row.name,
            bound: row.bound,
            key,
            isDefault,
            managed: isOwned(family, name, row, key, ownership),
            comment: row.comment,
            bytes: row.bytes === null ? null : Number(row.bytes),
            estimatedRows: reltuples >= 0 ? reltuples : null,
            defaultRows: null,
            ...(row.detach_pending ? { detachPending: true } : {}),
            ...(isDefault && row.excludes_check ? { excludesCheck: true } : {}),
          });
        }
        table.partitions.sort(partitionOrder);
        tableSnapshots.push(table);
      }
      const source = sourceValuesFromRows(
        family,
        sourceFound.get(family) === true,
        at(familySlots[f]?.sourceValues ?? -1),
      );
      // DEFAULT is probed for the keys the planner may create, once every table is read.
      const keys = probeKeys(family, tableSnapshots, source.values, now);
      for (const table of tableSnapshots) {
        if (!matchesSpec(family, table.parent)) continue;
        for (const p of table.partitions) {
          if (!p.isDefault) continue;
          const occupancy = occupancySlots.get(`${p.schema}.${p.name}`);
          const [first] = occupancy === undefined ? [] : at(occupancy.slot);
          // Every DEFAULT of a table read by the spec got its first look above.
          if (!occupancy || !first) {
            throw new PgpartsError(
              'internal',
              `inspect: no first look was read for ${p.schema}.${p.name}`,
            );
          }
          p.defaultRows = await readDefaultRows(
            tx,
            family,
            p,
            keys,
            occupancyFromLook(first, occupancy.probed),
            { exact: options.exactDefaultRows ?? false },
          );
          rememberOccupancy(`${p.schema}.${p.name}`, p.defaultRows.hasRows);
        }
      }
      const indexIssues: IndexOrderIssue[] = (indexRows as unknown as IndexRow[])
        .filter((r) => r.parent_schema === family.schema && family.tables.includes(r.parent))
        .map((r) => ({
          table: r.parent,
          partition: r.partition,
          index: r.index,
          parentIndex: r.parent_index,
          option: r.option,
          parentOption: r.parent_option,
        }));
      const slots2 = familySlots[f];
      const ofSchema = schemaSlots.get(family.schema);
      const triggers = [
        ...new Set(
          at(ofSchema?.triggers ?? -1)
            .filter((r) => family.tables.includes(String(r.parent)))
            .map((r) => String(r.name)),
        ),
      ];
      let changeLogRows = 0;
      if (triggers.length > 0 && has(family.schema, CHANGE_LOG_TABLE)) {
        const [row] = rowsOf<{ n: number | string }>(
          await tx.execute(changeLogRowsSql(family, triggers)),
        );
        changeLogRows = Number(row?.n ?? 0);
      }
      familySnapshots.push({
        schema: family.schema,
        name: family.name,
        tables: tableSnapshots,
        sourceValues: source.values,
        sourceError: source.error,
        retiredKeys: slots2 ? at(slots2.retired).map((r) => String(r.key)) : [],
        unfinished: {
          operations: operationsFromRows(
            at(ofSchema?.operations ?? -1).filter((r) => r.family === family.name),
          ),
          drainTables: slots2
            ? at(slots2.drainTables).map((r) => ({ name: String(r.name), role: String(r.role) }))
            : [],
          captureTriggers: triggers,
          changeLogRows,
        },
        anomalies: [
          ...findAnomalies(family, tableSnapshots, indexIssues),
          ...sharedRecords(family, ownership),
        ],
        ownershipRecorded: ownership.adopted.has(family.name),
        ownershipKeyedByOid: keyedByOid.has(family.schema),
        runRecordsTable: has(family.schema, MAINTENANCE_RUNS_TABLE),
      });
    }
    return {
      takenAt: new Date(Number(clock?.ms)),
      serverVersion: Number(clock?.version),
      families: familySnapshots,
    };
  }
}
