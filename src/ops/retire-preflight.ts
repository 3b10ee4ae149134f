import { type SQL, sql } from 'drizzle-orm';
import { readBatch } from '../catalog/batch.js';
import { ownedRoles, ownedRolesFrom, ownedRolesSql } from '../catalog/ownership.js';
import { referencingKeysSql } from '../catalog/referencing-keys.js';
import { boundHoldsKey, boundNeedle } from '../define/bounds.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { readAsTransaction } from '../run/execute.js';
import { pgErrorCode, UNDEFINED_TABLE } from '../run/pg-error.js';
import { quoteQualified } from '../sql/identifiers.js';
import { OWNED_TABLES, type OwnedRole } from '../sql/ownership.js';
import { adoptedKey } from './ownership.js';

/**
 * What retire proves before its first change, so that it never stops half-way: a retire that
 * dropped the members' partition and then failed on the runs' left the parent showing none of
 * the month's rows, and every later run failing. It refuses ('refused'), changing nothing, when:
 * - a table's partition for the key is not pgparts's own (not in its ownership record, nor,
 *   where the run carries the family's ownership over first, one that carry-over adopts), holds
 *   the key under another name, or is a drain's staging table;
 * - the partition of the key's name holds another bound (another key, or DEFAULT);
 * - a view or materialized view depends on one of the key's partitions (DROP would fail, DETACH
 *   would leave the view reading a table that is no longer in the parent);
 * - a table outside the family has a foreign key to the parent or the partition (the detach
 *   would fail, or the drop orphan its rows);
 * - some tables of the family have the key's partition and others do not (unless an interrupted
 *   retire of this key is being finished: then that is expected);
 * - archive: the archive schema already has a table of that name.
 */

export interface RetirePartitionState {
  table: string;
  name: string;
  oid: string;
  attached: boolean;
  detachPending: boolean;
  /** The planner's estimate (pg_class.reltuples); null when the table was never analyzed. */
  rows: number | null;
}

export interface RetirePreflightOptions {
  mode: 'drop' | 'archive';
  archiveSchema: string;
  /** An interrupted retire of this key is being finished. */
  resuming: boolean;
  /**
   * The ownership record's table is known to exist (apply made sure of it before its steps): its
   * read joins the batch instead of following it. Not taken on trust: were the table gone, the
   * batch fails, and the preflight reads again without it.
   */
  ownedTableExists?: boolean;
  /**
   * The family's ownership is not carried over yet, and the run carries it over before its
   * first change (ensureOwnership): a partition not in the record counts as pgparts's own when
   * the carry-over adopts it (adoptedKey). For the plan of a run, and a dry run, to say what the
   * run will do.
   */
  carriesOverFirst?: boolean;
}

interface Holder {
  name: string;
  schema: string;
  bound: string;
}

interface TableRead {
  holders: Holder[] | string;
  oid: string | null;
  attached: boolean;
  pending: boolean;
  rows: number | null;
  bound: string | null;
  comment: string | null;
}

/**
 * The partitions that may hold the key's bound in `table` (those whose bound text holds its
 * needle: boundHoldsKey decides), and the key's own table: one read.
 */
function tableReadSql(family: FamilySpec, table: string, name: string, needle: string): SQL {
  const parent = quoteQualified(family.schema, table);
  return sql`SELECT (SELECT coalesce(json_agg(json_build_object('name', c.relname, 'schema', n.nspname,
                                                               'bound', pg_get_expr(c.relpartbound, 0))), '[]')
                     FROM pg_inherits i
                     JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE i.inhparent = to_regclass(${parent})
                       AND strpos(pg_get_expr(c.relpartbound, 0), ${needle}) > 0) AS holders,
                    t.oid, t.attached, t.pending, t.rows, t.bound, t.comment
             FROM (SELECT 1) one LEFT JOIN (
               SELECT c.oid::text AS oid, i.inhrelid IS NOT NULL AS attached,
                      coalesce(i.inhdetachpending, false) AS pending,
                      -- -1 until the first VACUUM or ANALYZE: unknown, not none.
                      CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint::int END AS rows,
                      pg_get_expr(c.relpartbound, 0) AS bound,
                      obj_description(c.oid, 'pg_class') AS comment
               FROM pg_class c
               LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = to_regclass(${parent})
               WHERE c.oid = to_regclass(${quoteQualified(family.schema, name)})) t ON true`;
}

/**
 * Views on the partition, and foreign keys from outside the family into it or its parent, both
 * found through pg_depend by index (referencingKeysSql). The
 * key's own partitions of the family's other tables are the family's, attached or not: a retire
 * cut short after it detached a referencing table's partition finds that partition's key still
 * pointing in, and must go on (it detaches and drops or archives them together).
 */
function dependentsSql(
  family: FamilySpec,
  table: string,
  name: string,
  keyPartitions: readonly string[],
): SQL {
  const parent = quoteQualified(family.schema, table);
  const partition = sql`to_regclass(${quoteQualified(family.schema, name)})`;
  const parents = sql.join(
    family.tables.map((t) => sql`to_regclass(${quoteQualified(family.schema, t)})`),
    sql`, `,
  );
  // Those that exist (to_regclass gives NULL for the others, and NOT IN a list with a NULL is
  // never true).
  const own = sql`SELECT o FROM unnest(ARRAY[${sql.join(
    keyPartitions.map((t) => sql`to_regclass(${quoteQualified(family.schema, t)})`),
    sql`, `,
  )}]::regclass[]) o WHERE o IS NOT NULL`;
  return sql`SELECT * FROM (
               SELECT DISTINCT 'view' AS kind, v.oid::regclass::text AS name, '' AS from
               FROM pg_depend d
               JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
               WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
                 AND d.refobjid = ${partition} AND v.oid <> ${partition}
               UNION ALL
               ${referencingKeysSql(
                 sql`${partition}, to_regclass(${parent})`,
                 sql`'fk', k.conname, k.conrelid::regclass::text`,
                 sql`k.conrelid NOT IN (${parents}) AND k.conrelid NOT IN (${own})
                 AND NOT EXISTS (SELECT 1 FROM pg_inherits i
                                 WHERE i.inhrelid = k.conrelid AND i.inhparent IN (${parents}))`,
               )}) d
             ORDER BY kind DESC, "from", name`;
}

/** What the preflight read: the key's partitions, and the rows of the reads sent with it. */
export interface RetirePreflightRead {
  /** The key's partitions, referencing tables first. */
  states: RetirePartitionState[];
  /** The rows of `also`, in its order. */
  also: Record<string, unknown>[][];
}

/**
 * Proves a retire of `key` can finish, or throws 'refused' with every problem. Its reads are one
 * batch (catalog/batch.ts) for every table, with `also` (further plain SELECTs the caller needs,
 * sent in the same batch), and one read of the ownership records when that table exists and is
 * not known to (the same statements a dry run and the retire itself send). It writes nothing.
 * `proved` runs once it passed, after its transaction, on what was read; its value is returned.
 */
export async function retirePreflight<T>(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetirePreflightOptions,
  also: readonly SQL[],
  proved: (db: AnyPgDatabase, read: RetirePreflightRead) => Promise<T>,
): Promise<T> {
  if (!options.ownedTableExists) return preflightOnce(db, family, key, options, also, proved);
  try {
    return await preflightOnce(db, family, key, options, also, proved);
  } catch (error) {
    if (pgErrorCode(error) !== UNDEFINED_TABLE) throw error;
    return preflightOnce(db, family, key, { ...options, ownedTableExists: false }, also, proved);
  }
}

async function preflightOnce<T>(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetirePreflightOptions,
  also: readonly SQL[],
  proved: (db: AnyPgDatabase, read: RetirePreflightRead) => Promise<T>,
): Promise<T> {
  const tables = [...family.tables].reverse();
  const names = tables.map((table) => partitionName(family, table, key));
  const perTable = 3;
  const reads: SQL[] = tables.flatMap((table, i) => {
    const name = names[i] as string;
    return [
      tableReadSql(family, table, name, boundNeedle(key)),
      dependentsSql(family, table, name, names),
      options.mode === 'archive'
        ? sql`SELECT to_regclass(${quoteQualified(options.archiveSchema, name)})::text AS t`
        : sql`SELECT NULL::text AS t`,
    ];
  });
  const ownedAt = reads.length;
  reads.push(
    sql`SELECT to_regclass(${quoteQualified(family.schema, OWNED_TABLES)}) IS NOT NULL AS present`,
  );
  if (options.ownedTableExists) reads.push(ownedRolesSql(family.schema, family.schema, names));
  const alsoAt = reads.length;
  reads.push(...also);
  // Bounds print in the session's zone and style: read them as boundSpecSql writes them. The
  // batch's generic plan serves every later run of it on the connection (a plan's preview, then
  // the retire's own preflight), instead of planning it anew each time. The settings go out
  // with the batch, which runs under them.
  const settings = sql`SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true),
                              set_config('plan_cache_mode', 'force_generic_plan', true)`;
  // It writes nothing: where the connection allows it, BEGIN, the settings, the reads and COMMIT
  // go out together, one round trip.
  const results = await readAsTransaction(db, [settings], (tx) => readBatch(tx, reads));
  const problems: string[] = [];
  const states: RetirePartitionState[] = [];
  const missing: string[] = [];
  const ownedPresent = results[ownedAt]?.[0]?.present === true;
  const roles = options.ownedTableExists
    ? ownedRolesFrom(results[ownedAt + 1] ?? [])
    : ownedPresent
      ? await ownedRoles(db, family.schema, family.schema, names)
      : new Map<string, OwnedRole>();
  for (const [i, table] of tables.entries()) {
    const name = names[i] as string;
    const read = results[i * perTable]?.[0] as unknown as TableRead | undefined;
    const candidates: Holder[] =
      typeof read?.holders === 'string' ? JSON.parse(read.holders) : (read?.holders ?? []);
    const holders = candidates.filter((h) => boundHoldsKey(h.bound, key));
    for (const h of holders.filter((h) => h.name !== name || h.schema !== family.schema)) {
      problems.push(
        `${h.schema}.${h.name} holds ${keyLabel(key)} in ${table} under a name pgparts did not ` +
          `give it (pgparts would name it ${name}); pgparts retires only its own partitions: ` +
          'detach or drop it yourself',
      );
    }
    const found = read?.oid
      ? { oid: read.oid, attached: read.attached, pending: read.pending, rows: read.rows }
      : undefined;
    if (!found) {
      missing.push(table);
      continue;
    }
    // Found by name, proved by bound: text values differing only in case or punctuation share
    // a name, and a value can name the DEFAULT partition; neither is this key's to retire.
    if (read?.bound != null && !boundHoldsKey(read.bound, key)) {
      problems.push(
        `${family.schema}.${name} holds ${read.bound}, not ${keyLabel(key)}: the key's ` +
          'partition would have that name (partition names come from the values, so text values ' +
          "differing only in case or punctuation share one); check the key's spelling",
      );
      continue;
    }
    const adopted =
      options.carriesOverFirst === true &&
      found.attached &&
      read?.bound != null &&
      adoptedKey(family, table, { name, bound: read.bound, comment: read.comment }) !== null;
    const role = roles.get(name) ?? (adopted ? 'partition' : null);
    if (role === 'staging' || role === 'next-default') {
      problems.push(
        `${family.schema}.${name} is a drain's ${role} table (an unfinished drain of this key): ` +
          'finish it with `pgparts drain` or `pgparts apply` first',
      );
      continue;
    }
    if (role !== 'partition') {
      problems.push(
        `${family.schema}.${name} was not created by pgparts (not in its ownership record, ` +
          'whatever its comment says); pgparts retires only its own partitions',
      );
      continue;
    }
    const dependents = (results[i * perTable + 1] ?? []) as unknown as {
      kind: 'view' | 'fk';
      name: string;
      from: string;
    }[];
    const views = dependents.filter((d) => d.kind === 'view').map((d) => ({ view: d.name }));
    const foreign = dependents.filter((d) => d.kind === 'fk');
    if (views.length > 0) {
      problems.push(
        `${views.map((v) => v.view).join(', ')} ${views.length === 1 ? 'depends' : 'depend'} on ` +
          `${family.schema}.${name}: drop or redefine ${views.length === 1 ? 'it' : 'them'} ` +
          '(on the parent table instead of the partition) first',
      );
    }
    if (foreign.length > 0) {
      problems.push(
        `${foreign.map((f) => `${f.from} (${f.name})`).join(', ')} outside the family ` +
          `reference${foreign.length === 1 ? 's' : ''} ${table}: retiring ${name} would fail ` +
          'on its rows or orphan them; retire it by hand',
      );
    }
    if (options.mode === 'archive' && results[i * perTable + 2]?.[0]?.t) {
      problems.push(
        `${options.archiveSchema}.${name} already exists: archive would collide (another ` +
          "family's archived table of the same name, a family in another schema archiving to the " +
          'same archive schema, say: give this family an archive schema of its own, ' +
          'retention.archiveSchema in its spec; or move that table away)',
      );
    }
    states.push({
      table,
      name,
      oid: found.oid,
      attached: found.attached,
      detachPending: found.pending,
      rows: found.rows,
    });
  }
  if (states.length > 0 && missing.length > 0 && !options.resuming) {
    problems.push(
      `${missing.join(', ')} ${missing.length === 1 ? 'has' : 'have'} no partition ${keyLabel(key)} ` +
        `while ${states.map((s) => s.table).join(', ')} ${states.length === 1 ? 'has' : 'have'}: ` +
        'the family is not partitioned alike for this key; look at it by hand',
    );
  }
  if (problems.length > 0) {
    throw new PgpartsError(
      'refused',
      `retire: family ${family.name}, key ${keyLabel(key)}: nothing was changed:\n${problems
        .map((p) => `  - ${p}`)
        .join('\n')}`,
      { step: 'retire', table: `${family.schema}.${family.tables[0]}` },
    );
  }
  return proved(db, { states, also: results.slice(alsoAt) });
}
