import { type SQL, sql } from 'drizzle-orm';
import { type RecordedOperation, readOperations } from '../../catalog/operations.js';
import { ownedRole } from '../../catalog/ownership.js';
import { type RetiredKey, readRetiredKey } from '../../catalog/retired-keys.js';
import { parseStatisticsTargets, statisticsTargetsJson } from '../../catalog/statistics-targets.js';
import { boundHoldsKey } from '../../define/bounds.js';
import { isManagedComment } from '../../define/marker.js';
import { keyLabel, type PartitionKey, partitionName } from '../../define/partition-key.js';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { query } from '../../run/execute.js';
import { inShortTransaction, type ShortTransactionOptions } from '../../run/lock-timeout.js';
import { IS_SUPERUSER } from '../../run/privileges.js';
import { jsonValue } from '../../run/rows.js';
import { identifierProblem, quoteQualified } from '../../sql/identifiers.js';
import { OWNED_TABLES, OWNERSHIP_ADOPTED, type OwnedRole } from '../../sql/ownership.js';
import type { StatisticsTarget } from '../../sql/statistics-targets.js';
import {
  CAPTURE_TRIGGER,
  keyLogFunctionExistsSql,
  REMOVE_COPIES_TRIGGER,
  truncateGuardName,
} from '../online-copy/capture.js';
import { type ParentIndex, readIndexSignatures, readParentIndexes } from './indexes.js';

/** The capture trigger's TRUNCATE guard, read beside it and never taken for an app's trigger. */
const GUARD_TRIGGER = truncateGuardName(CAPTURE_TRIGGER);

/** The comment a drain's staging table carries until it is attached. */
export const STAGING_MARKER = 'pgparts:drain-staging';
/** The comment on the table a swap builds to become the new DEFAULT (the rows that stay). */
export const NEXT_DEFAULT_MARKER = 'pgparts:drain-next-default';
/** The comment on an old DEFAULT a swap detached, until it is dropped after the commit. */
export const DRAINED_DEFAULT_MARKER = 'pgparts:drain-old-default';

/** The table a swap builds to replace a DEFAULT partition. */
export function nextDefaultName(defaultPartition: string): string {
  return `${defaultPartition}_next`;
}

/** The name an old DEFAULT gets once a swap detached it. */
export function drainedDefaultName(defaultPartition: string): string {
  return `${defaultPartition}_drained`;
}

/** The DEFAULT whose old table is `drained` (drainedDefaultName's inverse). */
export function defaultOfDrained(drained: string): string {
  return drained.replace(/_drained$/, '');
}

/** Privileges a role (null: PUBLIC) holds on a DEFAULT partition, from its ACL. */
export interface DefaultGrant {
  grantee: string | null;
  privileges: string[];
  grantable: boolean;
}

/** What the live database holds, for one table of a family, that a drain needs to know. */
export interface DrainTableState {
  table: string;
  /** Its DEFAULT partition; null when it has none. */
  defaultPartition: string | null;
  /**
   * pgparts owns the DEFAULT partition (recorded as a partition; before the family's ownership
   * is carried over, by the rule that will adopt it). A swap detaches and renames DEFAULT and
   * drops it after the commit: only one pgparts owns.
   */
  defaultOwned: boolean;
  /**
   * What is under the name a swap gives the old DEFAULT (`<default>_drained`): nothing, one a
   * swap left and pgparts drops first (owned), or a table pgparts does not own (foreign).
   */
  drainedState: 'absent' | 'owned' | 'foreign';
  /** The name the key's partition gets (and its staging table has meanwhile). */
  target: string;
  /** A table of that name exists: attached (done), staging (resume), or foreign (refuse). */
  targetState: 'absent' | 'attached' | 'staging' | 'foreign';
  /** Another attached partition already holds the key under another name. */
  coveredBy: string | null;
  /**
   * The bound of the attached partition named `target` when it is not the key's: two keys give
   * the same name (text LIST values differing in case or punctuation), or the name is DEFAULT's.
   */
  targetHoldsOther: string | null;
  columns: string[];
  pkColumns: string[];
  /** Foreign keys of this table to earlier tables of the family: name and definition. */
  familyForeignKeys: { name: string; definition: string }[];
  /** The family tables those foreign keys reference. */
  referencedTables: string[];
  /** Foreign keys of this table to tables outside the family: name and definition. */
  outsideForeignKeys: { name: string; definition: string }[];
  /** The tables those reference, as regclass text (schema-qualified where needed). */
  outsideReferencedTables: string[];
  /** A table outside the family has a foreign key to this one. */
  referencedFromOutside: boolean;
  /**
   * Those foreign keys whose ON DELETE changes the referencing rows (CASCADE, SET NULL, SET
   * DEFAULT): a DELETE from DEFAULT with triggers on would change rows outside the family.
   */
  outsideDeleteActions: { name: string; table: string; action: string }[];
  /**
   * The app's own triggers on the DEFAULT partition that a DELETE from it fires (row or
   * statement level; pgparts's capture trigger and the server's foreign key triggers left out):
   * `enabled` as pg_trigger.tgenabled says (O: unless session_replication_role = replica; A:
   * always; R: only under replica), `inherited` when the parent's trigger made it.
   */
  defaultDeleteTriggers: AppTrigger[];
  /**
   * The app's triggers made on the DEFAULT partition itself rather than on the parent: a swap's
   * successor, attached in its place, gets only the parent's.
   */
  defaultOwnTriggers: string[];
  /** The DEFAULT partition's size in pages, for copying it in block ranges. */
  defaultPages: number;
  /** pg_get_partition_constraintdef of the DEFAULT partition, when there is one. */
  defaultConstraint: string | null;
  /** The capture trigger is on the DEFAULT partition (enabled or not). */
  captureInstalled: boolean;
  /**
   * ... and enabled ALWAYS, so that it logs the writes of sessions with session_replication_role
   * = replica too, with its TRUNCATE guard beside it. One an earlier release made (enabled for
   * origin sessions only, no guard) may have missed such writes or a TRUNCATE: the copy it
   * guarded starts again.
   */
  captureAlways: boolean;
  /** DEFAULT has the trigger removing its rows' copies (a swap's, online-copy/capture.ts). */
  removeCopiesInstalled: boolean;
  /** Foreign keys the DEFAULT partition carries to tables outside the family (a swap drops them). */
  defaultForeignKeys: string[];
  /** The parent's owner when not the role draining: the key's new partition is given to it. */
  parentOwner: string | null;
  /** The parent's tablespace, if it names one: the drain's new tables are made there. */
  parentTablespace: string | null;
  /** The parent's columns' statistics targets: given to the drain's new tables. */
  parentStatisticsTargets: StatisticsTarget[];
  /**
   * What a swap's successor takes over from the DEFAULT it replaces: its owner (when not the
   * role draining) and its grants, one statement each.
   */
  defaultOwner: string | null;
  defaultGrants: DefaultGrant[];
  /** Foreign keys a staging table of this key already has (an interrupted drain added them). */
  targetForeignKeys: string[];
  /** Foreign keys the successor DEFAULT already has (an interrupted swap added them). */
  nextForeignKeys: string[];
  /**
   * Identity columns of a staging table / successor DEFAULT made before drain tables were made
   * without them (an interrupted drain of an older version): the prepare drops them.
   */
  targetIdentity: string[];
  nextIdentity: string[];
  /**
   * For a swap: the table being built to replace DEFAULT, and what exists under its name:
   * nothing, this key's (resumed), another key's drain's (`nextKey`: its "not the key" CHECK
   * is that key's), or a table no drain made.
   */
  next: string | null;
  nextState: 'absent' | 'staging' | 'other-key' | 'foreign';
  /** The key the table under `next`'s name was built for, when it is another key's. */
  nextKey: string | null;
  /**
   * The parent's indexes, as the drain's tables get them after their copy (indexes.ts); null
   * when one cannot be rebuilt from its definition (the tables are then created with them).
   */
  indexes: ParentIndex[] | null;
  /** The indexes the staging table has (signatures; see indexes.ts). */
  targetIndexes: string[];
  /** The indexes the successor DEFAULT has. */
  nextIndexes: string[];
}

export interface AppTrigger {
  name: string;
  enabled: 'O' | 'A' | 'R';
  inherited: boolean;
}

export interface DrainState {
  tables: DrainTableState[];
  serverVersion: number;
  /** Foreign keys between the family's tables left NOT VALID by a swap: to validate. */
  unvalidatedForeignKeys: { table: string; name: string }[];
  /** Old DEFAULT partitions a swap detached: to drop. */
  drainedDefaults: string[];
  /** session_replication_role can be set: the move skips ON DELETE actions (fast path). */
  canSkipTriggers: boolean;
  /** The change-capture function exists in the family's schema (created only where missing). */
  captureFunctionExists: boolean;
  /**
   * Drains of the family's other keys that are recorded (pgparts_operations): running now, or
   * interrupted and not finished. They share DEFAULT, its capture trigger, change log and
   * successor with this one: a drain waits for them (drain.ts refuses).
   */
  otherDrains: RecordedOperation[];
  /** This key's own drain record, when an interrupted drain of it is being resumed. */
  ownDrain: RecordedOperation | null;
  /** How and when the key was retired (pgparts_retired_keys), when it was. */
  retired: RetiredKey | null;
}

/**
 * The role and key pgparts recorded for `schema.name` as it is now (see catalog/ownership.ts's
 * ownedRole); null when it does not own it.
 */
async function ownedRecord(
  tx: AnyPgDatabase,
  schema: string,
  name: string,
): Promise<{ role: OwnedRole; key: string } | null> {
  const [row] = await query<{ role: OwnedRole; key: string }>(
    tx,
    sql`SELECT o.role, o.key FROM ${sql.raw(quoteQualified(schema, OWNED_TABLES))} o
        JOIN pg_class c ON c.oid = o.relid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE o.relid = to_regclass(${quoteQualified(schema, name)})
          AND n.nspname = o.schema AND c.relname = o.name`,
  );
  return row ?? null;
}

/**
 * Whether the schema has the ownership table, and whether the family's ownership was carried
 * over (ops/ownership.ts): from then on the records alone say what pgparts owns.
 */
async function ownershipState(
  tx: AnyPgDatabase,
  family: FamilySpec,
): Promise<{ recorded: boolean; adopted: boolean }> {
  const [row] = await query<{ recorded: boolean; adoptions: boolean }>(
    tx,
    sql`SELECT to_regclass(${quoteQualified(family.schema, OWNED_TABLES)}) IS NOT NULL AS recorded,
               to_regclass(${quoteQualified(family.schema, OWNERSHIP_ADOPTED)}) IS NOT NULL AS adoptions`,
  );
  if (!row?.recorded || !row.adoptions) return { recorded: row?.recorded === true, adopted: false };
  const [done] = await query<{ n: number }>(
    tx,
    sql`SELECT count(*)::int AS n FROM ${sql.raw(quoteQualified(family.schema, OWNERSHIP_ADOPTED))}
        WHERE family = ${family.name}`,
  );
  return { recorded: true, adopted: (done?.n ?? 0) > 0 };
}

/**
 * Names the catalog lists for a table of the family, in order (none when it does not exist, or
 * its name is too long to be one): `read` selects `name` rows for the table's regclass.
 */
async function namesOf(
  tx: AnyPgDatabase,
  schema: string,
  table: string,
  read: (relation: SQL) => SQL,
): Promise<string[]> {
  if (identifierProblem(table)) return [];
  const rows = await query<{ name: string }>(
    tx,
    read(sql`to_regclass(${quoteQualified(schema, table)})`),
  );
  return rows.map((r) => r.name);
}

/** The names of the foreign keys a table has. */
const foreignKeyNames = (tx: AnyPgDatabase, schema: string, table: string) =>
  namesOf(
    tx,
    schema,
    table,
    (relation) => sql`SELECT conname AS name FROM pg_constraint
        WHERE conrelid = ${relation} AND contype = 'f' ORDER BY conname`,
  );

/** The identity columns a table has. */
const identityColumns = (tx: AnyPgDatabase, schema: string, table: string) =>
  namesOf(
    tx,
    schema,
    table,
    (relation) => sql`SELECT attname AS name FROM pg_attribute
        WHERE attrelid = ${relation} AND attnum > 0
          AND NOT attisdropped AND attidentity <> '' ORDER BY attnum`,
  );

/** What waited, in the error of a drain state read that gave up on a lock. */
/**
 * The size in pages of each table's DEFAULT partition now, in one read: what the copy covers
 * once the capture trigger is in place (a row written after this read is in the change log).
 * Tables without a DEFAULT are left out.
 */
export async function readDefaultPages(
  db: AnyPgDatabase,
  family: FamilySpec,
  tables: readonly { table: string; defaultPartition: string | null }[],
  lock: Omit<ShortTransactionOptions, 'what'> = {},
): Promise<Map<string, number>> {
  const defaults = tables.filter((t) => t.defaultPartition !== null);
  if (defaults.length === 0) return new Map();
  const rows = await inShortTransaction(db, { ...lock, what: DRAIN_STATE_READ }, (tx) =>
    query<{ i: number; pages: number }>(
      tx,
      sql`SELECT d.i, (pg_relation_size(to_regclass(d.name)) / current_setting('block_size')::int)::int AS pages
          FROM (VALUES ${sql.join(
            defaults.map(
              (t, i) =>
                sql`(${i}::int, ${quoteQualified(family.schema, t.defaultPartition as string)}::text)`,
            ),
            sql`, `,
          )}) d(i, name)`,
    ),
  );
  return new Map(rows.map((r) => [(defaults[r.i] as { table: string }).table, Number(r.pages)]));
}

export const DRAIN_STATE_READ = "reading the drain's tables (the family's DEFAULT and partitions)";

/**
 * Reads the state of every table of the family for draining `key`. Bounds are read in UTC. The
 * read locks DEFAULT and the partitions (ACCESS SHARE): behind a session holding one in ACCESS
 * EXCLUSIVE it waits `lockTimeoutMs`, then is retried (`lock`), then gives up with a
 * `lock-timeout` error, rather than wait for as long as that session holds it.
 */
export async function readDrainState(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  lock: Omit<ShortTransactionOptions, 'what'> = {},
): Promise<DrainState> {
  return inShortTransaction(db, { ...lock, what: DRAIN_STATE_READ }, async (tx) => {
    await tx.execute(sql`SET LOCAL TimeZone = 'UTC'`);
    await tx.execute(sql`SET LOCAL DateStyle = 'ISO, YMD'`);
    // pg_get_constraintdef and regclass text then name every table with its schema: the
    // definitions are pasted into DDL that runs under the caller's search_path.
    await tx.execute(sql`SET LOCAL search_path = pg_catalog`);
    const tables: DrainTableState[] = [];
    const label = keyLabel(key);
    // Before the family's ownership is carried over (a dry run may come first), what the first
    // change will adopt: ops/ownership.ts's rule.
    const ownership = await ownershipState(tx, family);
    const adopted = ownership.adopted;
    const owned = async (name: string) =>
      ownership.recorded ? ownedRecord(tx, family.schema, name) : null;
    // The family's parents as a SQL list (a JS array would be sent as a row, not an array).
    const parents = sql.join(
      family.tables.map((name) => sql`to_regclass(${quoteQualified(family.schema, name)})`),
      sql`, `,
    );
    for (const table of family.tables) {
      const parent = quoteQualified(family.schema, table);
      const target = partitionName(family, table, key);
      const partitions = await query<{ name: string; bound: string; comment: string | null }>(
        tx,
        sql`SELECT c.relname AS name, pg_get_expr(c.relpartbound, 0) AS bound,
                   obj_description(c.oid, 'pg_class') AS comment
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass(${parent})`,
      );
      if (partitions.length === 0) {
        const exists = await query<{ p: string | null }>(
          tx,
          sql`SELECT to_regclass(${parent})::text AS p`,
        );
        if (!exists[0]?.p) {
          throw new PgpartsError(
            'spec-mismatch',
            `pgparts: drain: table ${family.schema}.${table} does not exist; run migrations first`,
            { step: 'drain', table: `${family.schema}.${table}` },
          );
        }
      }
      const defaultPartition = partitions.find((p) => p.bound === 'DEFAULT')?.name ?? null;
      const attachedTarget = partitions.find((p) => p.name === target);
      // Found by name, proved by bound: a name says nothing about which key it holds.
      const targetHoldsOther =
        attachedTarget && !boundHoldsKey(attachedTarget.bound, key) ? attachedTarget.bound : null;
      const coveredBy =
        partitions.find((p) => p.name !== target && boundHoldsKey(p.bound, key))?.name ?? null;
      const standalone = await query<{ oid: string }>(
        tx,
        sql`SELECT c.oid::text AS oid FROM pg_class c
            WHERE c.oid = to_regclass(${quoteQualified(family.schema, target)})`,
      );
      let targetState: DrainTableState['targetState'] = 'absent';
      if (attachedTarget) targetState = 'attached';
      else if (standalone.length > 0)
        // A staging table is one pgparts recorded as such; the comment alone proves nothing.
        targetState =
          (await ownedRole(tx, family.schema, family.schema, target)) === 'staging'
            ? 'staging'
            : 'foreign';

      const columns = await query<{ name: string }>(
        tx,
        sql`SELECT attname AS name FROM pg_attribute
            WHERE attrelid = to_regclass(${parent}) AND attnum > 0 AND NOT attisdropped
              AND attgenerated = '' ORDER BY attnum`,
      );
      const pk = await query<{ name: string }>(
        tx,
        sql`SELECT a.attname AS name FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
            WHERE i.indrelid = to_regclass(${parent}) AND i.indisprimary
            ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      );
      const earlier = family.tables.slice(0, family.tables.indexOf(table));
      const fks: { name: string; definition: string }[] = [];
      const referencedTables: string[] = [];
      for (const referenced of earlier) {
        const found = await query<{ name: string; definition: string }>(
          tx,
          sql`SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
              WHERE conrelid = to_regclass(${parent}) AND contype = 'f' AND conparentid = 0
                AND confrelid = to_regclass(${quoteQualified(family.schema, referenced)})`,
        );
        fks.push(...found);
        if (found.length > 0) referencedTables.push(referenced);
      }
      const outside = await query<{ name: string; definition: string; referenced: string }>(
        tx,
        sql`SELECT conname AS name, pg_get_constraintdef(oid) AS definition,
                   confrelid::regclass::text AS referenced FROM pg_constraint
            WHERE conrelid = to_regclass(${parent}) AND contype = 'f' AND conparentid = 0
              AND confrelid NOT IN (${parents})`,
      );
      const inbound = await query<{ name: string; table: string; action: string }>(
        tx,
        sql`SELECT conname AS name, conrelid::regclass::text AS table,
                   CASE confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
                                    WHEN 'd' THEN 'SET DEFAULT' ELSE '' END AS action
            FROM pg_constraint
            WHERE confrelid = to_regclass(${parent}) AND contype = 'f' AND conparentid = 0
              AND conrelid NOT IN (${parents})
            ORDER BY 2, 1`,
      );
      const [parentRow] = await query<{
        owner: string | null;
        tablespace: string | null;
        statistics: unknown;
      }>(
        tx,
        sql`SELECT nullif(pg_get_userbyid(relowner), current_user::text) AS owner,
                   (SELECT spcname FROM pg_tablespace WHERE oid = reltablespace) AS tablespace,
                   ${statisticsTargetsJson(sql`pg_class.oid`)} AS statistics
            FROM pg_class WHERE oid = to_regclass(${parent})`,
      );
      let defaultPages = 0;
      let captureInstalled = false;
      let captureAlways = false;
      let removeCopiesInstalled = false;
      let defaultForeignKeys: string[] = [];
      let defaultOwner: string | null = null;
      let defaultGrants: DefaultGrant[] = [];
      let defaultDeleteTriggers: AppTrigger[] = [];
      let defaultOwnTriggers: string[] = [];
      let defaultConstraint: string | null = null;
      let next: string | null = null;
      let nextState: DrainTableState['nextState'] = 'absent';
      let nextKey: string | null = null;
      let defaultOwned = false;
      let drainedState: DrainTableState['drainedState'] = 'absent';
      if (defaultPartition) {
        const comment = partitions.find((p) => p.name === defaultPartition)?.comment;
        defaultOwned = adopted
          ? (await owned(defaultPartition))?.role === 'partition'
          : isManagedComment(comment) &&
            defaultPartition === partitionName(family, table, { kind: 'default' });
        const drained = drainedDefaultName(defaultPartition);
        const [drainedTable] = identifierProblem(drained)
          ? []
          : await query<{ comment: string | null }>(
              tx,
              sql`SELECT obj_description(c.oid, 'pg_class') AS comment FROM pg_class c
                  WHERE c.oid = to_regclass(${quoteQualified(family.schema, drained)})`,
            );
        if (drainedTable) {
          const ours = adopted
            ? (await owned(drained))?.role === 'drained-default'
            : drainedTable.comment === DRAINED_DEFAULT_MARKER;
          drainedState = ours ? 'owned' : 'foreign';
        }
        next = nextDefaultName(defaultPartition);
        // A name too long to derive from is no table (the swap refuses it: swapObstacles).
        const [nextTable] = identifierProblem(next)
          ? []
          : await query<{ oid: string }>(
              tx,
              sql`SELECT c.oid::text AS oid FROM pg_class c
                  WHERE c.oid = to_regclass(${quoteQualified(family.schema, next)})`,
            );
        if (nextTable) {
          const record = await owned(next);
          // A successor adopted from before ownership was recorded has no key ('').
          if (record?.role !== 'next-default') nextState = 'foreign';
          else if (record.key === '' || record.key === label) nextState = 'staging';
          else {
            nextState = 'other-key';
            nextKey = record.key;
          }
        }
        const [constraint] = await query<{ c: string | null }>(
          tx,
          sql`SELECT pg_get_partition_constraintdef(to_regclass(${quoteQualified(family.schema, defaultPartition)})) AS c`,
        );
        defaultConstraint = constraint?.c ?? null;
        const qualified = quoteQualified(family.schema, defaultPartition);
        // Its size and capture trigger, and what a swap's successor takes over from it: its
        // owner (when not the role draining) and its grants. The app's triggers include the
        // partition's clones of the parent's row triggers, which PostgreSQL 14 marks internal
        // (tgparentid set; a foreign key's own triggers have a tgconstraint).
        const [stats] = await query<{
          pages: number;
          capture: string | null;
          guard: string | null;
          remove_copies: boolean;
          owner: string | null;
          grants: DefaultGrant[] | string;
          triggers: (AppTrigger & { del: boolean })[] | string;
        }>(
          tx,
          sql`SELECT (pg_relation_size(d.oid) / current_setting('block_size')::int)::int AS pages,
                     (SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = d.oid
                               AND tgname = ${CAPTURE_TRIGGER}) AS capture,
                     (SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = d.oid
                               AND tgname = ${GUARD_TRIGGER}) AS guard,
                     EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = d.oid
                               AND tgname = ${REMOVE_COPIES_TRIGGER}) AS remove_copies,
                     nullif(pg_get_userbyid(d.relowner), current_user::text) AS owner,
                     (SELECT coalesce(json_agg(json_build_object(
                               'name', t.tgname, 'enabled', t.tgenabled,
                               'inherited', t.tgparentid <> 0, 'del', (t.tgtype & 8) <> 0)
                             ORDER BY t.tgname), '[]')
                        FROM pg_trigger t
                       WHERE t.tgrelid = d.oid AND t.tgenabled <> 'D'
                         AND (NOT t.tgisinternal OR (t.tgparentid <> 0 AND t.tgconstraint = 0))
                         AND t.tgname NOT IN (${CAPTURE_TRIGGER}, ${GUARD_TRIGGER}, ${REMOVE_COPIES_TRIGGER})) AS triggers,
                     (SELECT coalesce(json_agg(json_build_object(
                               'grantee', CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END,
                               'privileges', g.privileges, 'grantable', g.grantable)
                             ORDER BY g.grantee, g.grantable), '[]')
                        FROM (SELECT a.grantee, a.is_grantable AS grantable,
                                     array_agg(a.privilege_type ORDER BY a.privilege_type) AS privileges
                                FROM aclexplode(d.relacl) a WHERE a.grantee <> d.relowner
                               GROUP BY 1, 2) g) AS grants
              FROM pg_class d WHERE d.oid = to_regclass(${qualified})`,
        );
        defaultPages = stats?.pages ?? 0;
        captureInstalled = (stats?.capture ?? null) !== null;
        captureAlways = stats?.capture === 'A' && stats.guard === 'A';
        removeCopiesInstalled = stats?.remove_copies === true;
        defaultOwner = stats?.owner ?? null;
        defaultGrants = jsonValue<typeof defaultGrants | null>(stats?.grants) ?? [];
        const triggers = jsonValue<(AppTrigger & { del: boolean })[] | null>(stats?.triggers) ?? [];
        defaultDeleteTriggers = triggers
          .filter((t) => t.del)
          .map(({ name, enabled, inherited }) => ({ name, enabled, inherited }));
        defaultOwnTriggers = triggers.filter((t) => !t.inherited).map((t) => t.name);
        // What it keeps after a swap detaches it: its keys to tables outside the family (the
        // family's own are dropped from the parents before).
        const kept = await query<{ name: string }>(
          tx,
          sql`SELECT conname AS name FROM pg_constraint
              WHERE conrelid = to_regclass(${qualified}) AND contype = 'f'
                AND confrelid NOT IN (${parents}) ORDER BY conname`,
        );
        defaultForeignKeys = kept.map((k) => k.name);
      }
      tables.push({
        table,
        defaultPartition,
        defaultOwned,
        drainedState,
        target,
        targetState,
        coveredBy,
        targetHoldsOther,
        columns: columns.map((c) => c.name),
        pkColumns: pk.map((c) => c.name),
        familyForeignKeys: fks,
        referencedTables,
        outsideForeignKeys: outside.map(({ name, definition }) => ({ name, definition })),
        outsideReferencedTables: [...new Set(outside.map((o) => o.referenced))].sort(),
        referencedFromOutside: inbound.length > 0,
        outsideDeleteActions: inbound.filter((fk) => fk.action !== ''),
        defaultDeleteTriggers,
        defaultOwnTriggers,
        defaultPages,
        defaultConstraint,
        captureInstalled,
        captureAlways,
        removeCopiesInstalled,
        defaultForeignKeys,
        parentOwner: parentRow?.owner ?? null,
        parentTablespace: parentRow?.tablespace ?? null,
        parentStatisticsTargets: parseStatisticsTargets(parentRow?.statistics),
        defaultOwner,
        defaultGrants,
        targetForeignKeys:
          targetState === 'staging' ? await foreignKeyNames(tx, family.schema, target) : [],
        nextForeignKeys:
          next && nextState === 'staging' ? await foreignKeyNames(tx, family.schema, next) : [],
        targetIdentity:
          targetState === 'staging' ? await identityColumns(tx, family.schema, target) : [],
        nextIdentity:
          next && nextState === 'staging' ? await identityColumns(tx, family.schema, next) : [],
        next,
        nextState,
        nextKey,
        indexes: await readParentIndexes(tx, family.schema, table),
        targetIndexes:
          targetState === 'staging' ? await readIndexSignatures(tx, family.schema, target) : [],
        nextIndexes:
          next && nextState === 'staging' ? await readIndexSignatures(tx, family.schema, next) : [],
      });
    }
    // has_parameter_privilege exists from PostgreSQL 15; before that only a superuser may skip.
    const [version] = await query<{ v: number }>(
      tx,
      sql`SELECT current_setting('server_version_num')::int AS v`,
    );
    const [role] = await query<{ fast: boolean }>(
      tx,
      (version?.v ?? 0) >= 150000
        ? sql`SELECT ${IS_SUPERUSER}
                OR has_parameter_privilege('session_replication_role', 'SET') AS fast`
        : sql`SELECT ${IS_SUPERUSER} AS fast`,
    );
    const unvalidated = await query<{ table: string; name: string }>(
      tx,
      sql`SELECT r.relname AS table, c.conname AS name FROM pg_constraint c
          JOIN pg_class r ON r.oid = c.conrelid
          WHERE c.contype = 'f' AND c.conparentid = 0 AND NOT c.convalidated
            AND c.conrelid IN (${parents}) AND c.confrelid IN (${parents})`,
    );
    const drained = await query<{ name: string }>(
      tx,
      sql`SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${family.schema} AND c.relkind = 'r' AND NOT c.relispartition
            AND obj_description(c.oid, 'pg_class') = ${DRAINED_DEFAULT_MARKER}
            AND (${sql.join(
              family.tables.map((name) => sql`starts_with(c.relname, ${`${name}_`})`),
              sql` OR `,
            )})`,
    );
    const [capture] = await query<{ n: number | string }>(
      tx,
      keyLogFunctionExistsSql(family.schema),
    );
    // Only those pgparts owns are dropped (completeSwap checks again), so only those are listed:
    // a dry run prints no DROP that will not run.
    const droppable: string[] = [];
    for (const d of drained)
      if (!adopted || (await owned(d.name))?.role === 'drained-default') droppable.push(d.name);
    // Read after the tables: a drain records itself before it makes its first table, so one
    // whose table was seen above is seen here (unless it finished meanwhile).
    const drains = (await readOperations(tx, family)).filter((op) => op.operation === 'drain');
    const retired = await readRetiredKey(tx, family, label);
    return {
      retired,
      tables,
      otherDrains: drains.filter((op) => op.key !== label),
      ownDrain: drains.find((op) => op.key === label) ?? null,
      captureFunctionExists: Number(capture?.n ?? 0) > 0,
      canSkipTriggers: role?.fast === true,
      serverVersion: version?.v ?? 0,
      unvalidatedForeignKeys: unvalidated,
      drainedDefaults: droppable,
    };
  });
}
