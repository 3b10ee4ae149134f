import type { ListValue, PartitionKey } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import type { StatisticsTarget } from '../sql/statistics-targets.js';

/**
 * The catalog snapshot: what the live database holds for every declared family, read in one
 * transaction. Timestamps in bounds are read with TimeZone UTC and DateStyle ISO set locally
 * (pg_get_expr prints them in the session's zone and style: `'01/11/2026 05:30:00 IST'` under
 * DateStyle SQL in Asia/Kolkata), so the parsed bounds are the same whatever the session says.
 */

/**
 * What the catalog shows that the spec did not ask for. Warnings are things that need a person
 * (`pgparts status --check` fails on them); infos are reported and left alone.
 */
export interface Anomaly {
  kind:
    | 'foreign-name'
    | 'unmanaged'
    | 'misaligned'
    | 'gap'
    | 'overlap'
    | 'index-order'
    | 'unexpected-default'
    | 'leftover-default-check'
    | 'shared-records';
  severity: 'warning' | 'info';
  table: string;
  partition?: string;
  message: string;
  /** A gap's span: the plan tells one ahead of the premake window from a hole behind it. */
  span?: { from: Date; to: Date };
}

/** How the live parent table is partitioned (or that it is not, or does not exist). */
export interface ParentInfo {
  oid: string;
  /** 'p' for a partitioned table, 'r' for a plain one. */
  relkind: string;
  strategy: 'list' | 'range' | 'hash' | null;
  /** The key's columns; an expression key has none. */
  keyColumns: string[];
  /** `RANGE (killmail_time)`, as pg_get_partkeydef prints it. */
  keyDefinition: string | null;
  /** The type of the first key column, as format_type prints it. */
  keyType: string | null;
  /** Tables this one's foreign keys reference that the role may LOCK (ATTACH locks them). */
  referencedTables?: { schema: string; name: string }[];
  /** Tables whose foreign keys reference this one that the role may LOCK (ATTACH locks them). */
  referencingTables?: { schema: string; name: string }[];
  /**
   * The table's owner when it is not the role inspecting it (a member of the owner's role):
   * partitions made for it are given to that owner, as PARTITION OF by the owner would make them.
   */
  otherOwner?: string | null;
  /** The tablespace the table names (null: the database's default); its partitions go there. */
  tablespace?: string | null;
  /** The columns whose statistics target the table sets; its new partitions are given them. */
  statisticsTargets?: StatisticsTarget[];
}

/** The rows of a DEFAULT partition, counted exactly and grouped by the key they belong to. */
export interface ExactDefaultRows {
  total: number;
  /** Per LIST value, or per interval of the spec (RANGE); ascending. */
  byKey: { key: PartitionKey; rows: number }[];
  /** Rows whose key is none of the above (NULL, a non-integer value). */
  other: number;
}

/**
 * What a DEFAULT partition holds, read from what is cheap: whether it holds any row (one
 * EXISTS), whether it holds a row of each key the planner may create (an EXISTS per key, served
 * by an index on the key where there is one), and the keys a bounded search found in it. Exact
 * counts only when inspect was asked for them: counting reads every row, and no plan needs it.
 */
export interface DefaultRows {
  /** False when DEFAULT holds no row at all. */
  hasRows: boolean;
  /** The keys the planner may create (missing in some table of the family), ascending. */
  probes: { key: PartitionKey; hasRows: boolean }[];
  /** Keys DEFAULT holds rows of, found by a bounded search; ascending. */
  found: PartitionKey[];
  /** True when `found` is every key DEFAULT holds (rows of no key, e.g. NULL, aside). */
  foundAll: boolean;
  /** Exact counts per key: only with `inspect(..., { exactDefaultRows: true })`. */
  exact: ExactDefaultRows | null;
}

export interface PartitionInfo {
  schema: string;
  name: string;
  /** The bound as the server prints it (read in UTC). */
  bound: string;
  /** The key it holds, when it holds exactly one key the planner understands. */
  key: PartitionKey | null;
  isDefault: boolean;
  /**
   * Created by pgparts, as its ownership table records (by oid and name; see sql/ownership.ts):
   * the only ones ever removed automatically. The comment is only a hint.
   */
  managed: boolean;
  comment: string | null;
  /** pg_total_relation_size (table, indexes and TOAST); null unless inspect read sizes. */
  bytes: number | null;
  /** pg_class.reltuples; null before the first ANALYZE. */
  estimatedRows: number | null;
  /** What it holds, for DEFAULT partitions of a table partitioned as its spec says. */
  defaultRows: DefaultRows | null;
  /**
   * A DETACH ... CONCURRENTLY began and did not finish (pg_inherits.inhdetachpending): new
   * queries no longer see the partition, and the next apply finalizes the detach.
   */
  detachPending?: boolean;
  /**
   * DEFAULT only: it carries the CHECK a create adds to spare ATTACH its scan
   * (DEFAULT_EXCLUDES_CHECK), left by a create that did not finish.
   */
  excludesCheck?: boolean;
}

export interface TableSnapshot {
  schema: string;
  name: string;
  /** null when the table does not exist. */
  parent: ParentInfo | null;
  /** Ordered by key: DEFAULT first, then ascending; unparsed bounds last. */
  partitions: PartitionInfo[];
}

export interface FamilySnapshot {
  /** The family's identity is its schema and name. */
  schema: string;
  name: string;
  /** In the family's order: referenced first. */
  tables: TableSnapshot[];
  /** LIST: every value of `valuesFrom`, ascending; null when the spec has no `valuesFrom`. */
  sourceValues: ListValue[] | null;
  /** Why `valuesFrom` could not be read, when it could not. */
  sourceError: string | null;
  /** Keys retired by retireKey (keyLabel form): the planner does not create them again. */
  retiredKeys: string[];
  /** What interrupted drains, retires and reattaches left; all empty when nothing is under way. */
  unfinished: UnfinishedWork;
  anomalies: Anomaly[];
  /**
   * pgparts's ownership records exist and this family was carried over to them
   * (ops/ownership.ts): a change needs no setup first. Absent is read as false.
   */
  ownershipRecorded?: boolean;
  /**
   * The ownership records are keyed by oid, as an earlier release made them: the next change
   * sets them up first (ensureOwnership turns the key into a regclass). Absent is read as false.
   */
  ownershipKeyedByOid?: boolean;
  /**
   * pgparts's record of maintenance runs (pgparts_maintenance_runs) exists in the family's
   * schema: apply records its run without creating it first. Absent is read as false.
   */
  runRecordsTable?: boolean;
}

/** An operation recorded on a key (catalog/operations.ts) and not finished (or still running). */
export interface UnfinishedOperation {
  key: string;
  operation: 'drain' | 'retire' | 'reattach' | 'convert';
  phase: string;
  /** What the operation needs to be resumed alike (retire: its mode). */
  detail: string | null;
  startedAt: Date;
  updatedAt: Date;
  backendPid: number | null;
  /** The key's lock is held: it is running now rather than interrupted. */
  running: boolean;
}

export interface UnfinishedWork {
  operations: UnfinishedOperation[];
  /** Tables a drain builds, not partitions yet: staging, next-default, drained-default. */
  drainTables: { name: string; role: string }[];
  /** DEFAULT partitions whose change-capture trigger is still logging every write. */
  captureTriggers: string[];
  /** Rows of the change log written by those triggers and not replayed. */
  changeLogRows: number;
}

export interface Snapshot {
  /** The server's now() when the snapshot was taken; the planner's default clock. */
  takenAt: Date;
  serverVersion: number;
  families: FamilySnapshot[];
}

/** True when the live table is partitioned exactly as the spec says (so its bounds can be read). */
export function matchesSpec(family: FamilySpec, parent: ParentInfo | null): boolean {
  return (
    !!parent &&
    parent.relkind === 'p' &&
    parent.strategy === family.partitionBy.strategy &&
    parent.keyColumns.length === 1 &&
    parent.keyColumns[0] === family.partitionBy.column
  );
}
