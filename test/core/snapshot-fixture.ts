import { findAnomalies } from '../../src/catalog/anomalies.js';
import type {
  DefaultRows,
  FamilySnapshot,
  PartitionInfo,
  Snapshot,
  TableSnapshot,
} from '../../src/catalog/inspect.js';
import { MANAGED_MARKER } from '../../src/define/marker.js';
import { type PartitionKey, partitionName } from '../../src/define/partition-key.js';
import type { FamilySpec } from '../../src/define/spec.js';
import { boundSpecSql } from '../../src/sql/partition-ddl.js';

/**
 * Snapshots built in memory, as `inspect` would read them, for testing the planner without a
 * database. Bounds are printed as PostgreSQL prints them under TimeZone UTC and DateStyle ISO.
 */

export interface FakePartition {
  key: PartitionKey;
  /** Default: the name pgparts gives it. */
  name?: string;
  /** Default true. */
  managed?: boolean;
  /** A bound other than the key's (irregular partitions). */
  bound?: string;
  defaultRows?: DefaultRows;
}

/** A DEFAULT that holds no row: what inspect reads after one EXISTS. */
export const EMPTY_DEFAULT: DefaultRows = {
  hasRows: false,
  probes: [],
  found: [],
  foundAll: true,
  exact: null,
};

export function fakePartition(family: FamilySpec, table: string, p: FakePartition): PartitionInfo {
  const managed = p.managed ?? true;
  const isDefault = p.key.kind === 'default';
  return {
    schema: family.schema,
    name: p.name ?? partitionName(family, table, p.key),
    bound: p.bound ?? boundSpecSql(p.key),
    key: p.bound ? null : p.key,
    isDefault,
    managed,
    comment: managed ? MANAGED_MARKER : null,
    bytes: 8192,
    estimatedRows: 0,
    defaultRows: isDefault ? (p.defaultRows ?? EMPTY_DEFAULT) : null,
  };
}

export function fakeFamilySnapshot(
  family: FamilySpec,
  partitions: Record<string, FakePartition[]>,
  options: { sourceValues?: number[]; keyColumn?: string; strategy?: 'list' | 'range' } = {},
): FamilySnapshot {
  const tables: TableSnapshot[] = family.tables.map((name) => ({
    schema: family.schema,
    name,
    parent: {
      oid: '1',
      relkind: 'p',
      strategy: options.strategy ?? family.partitionBy.strategy,
      keyColumns: [options.keyColumn ?? family.partitionBy.column],
      keyDefinition: `${(options.strategy ?? family.partitionBy.strategy).toUpperCase()} (${options.keyColumn ?? family.partitionBy.column})`,
      keyType: family.partitionBy.strategy === 'list' ? 'integer' : 'timestamp with time zone',
    },
    partitions: (partitions[name] ?? []).map((p) => fakePartition(family, name, p)),
  }));
  return {
    name: family.name,
    tables,
    sourceValues: options.sourceValues ?? null,
    sourceError: null,
    retiredKeys: [],
    anomalies: findAnomalies(family, tables, []),
  };
}

export function fakeSnapshot(takenAt: Date, ...families: FamilySnapshot[]): Snapshot {
  return { takenAt, serverVersion: 180000, families };
}
