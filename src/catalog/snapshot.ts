import type { ListValue, PartitionKey } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';

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
    | 'unexpected-default';
  severity: 'warning' | 'info';
  table: string;
  partition?: string;
  message: string;
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
  /** Tables this one's foreign keys reference (ATTACH of a partition locks them). */
  referencedTables?: { schema: string; name: string }[];
  /** Tables whose foreign keys reference this one (ATTACH of a partition locks them too). */
  referencingTables?: { schema: string; name: string }[];
}

/** The rows of a DEFAULT partition, counted exactly and grouped by the key they belong to. */
export interface DefaultRows {
  total: number;
  /** Per LIST value, or per interval of the spec (RANGE); ascending. */
  byKey: { key: PartitionKey; rows: number }[];
  /** Rows whose key is none of the above (NULL, a non-integer value). */
  other: number;
}

export interface PartitionInfo {
  schema: string;
  name: string;
  /** The bound as the server prints it (read in UTC). */
  bound: string;
  /** The key it holds, when it holds exactly one key the planner understands. */
  key: PartitionKey | null;
  isDefault: boolean;
  /** Created by pgparts (carries the marker comment): the only ones ever removed automatically. */
  managed: boolean;
  comment: string | null;
  /** pg_total_relation_size: table, indexes and TOAST. */
  bytes: number;
  /** pg_class.reltuples; null before the first ANALYZE. */
  estimatedRows: number | null;
  /** Exact counts, for DEFAULT partitions only. */
  defaultRows: DefaultRows | null;
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
  name: string;
  /** In the family's order: referenced first. */
  tables: TableSnapshot[];
  /** LIST: every value of `valuesFrom`, ascending; null when the spec has no `valuesFrom`. */
  sourceValues: ListValue[] | null;
  /** Why `valuesFrom` could not be read, when it could not. */
  sourceError: string | null;
  /** Keys retired by retireKey (keyLabel form): the planner does not create them again. */
  retiredKeys: string[];
  anomalies: Anomaly[];
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
