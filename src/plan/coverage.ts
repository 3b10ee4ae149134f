import type { PartitionInfo, TableSnapshot } from '../catalog/snapshot.js';
import { isAlignedRange, keyId, listValues, parseBound, rangeSpan } from '../define/bounds.js';
import type { PartitionKey } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';

/** One table's partitions, indexed for planning. */
export interface TableIndex {
  name: string;
  /** Partitions holding exactly one key of the spec's grid, by keyId. */
  keyed: Map<string, PartitionInfo>;
  /** Every other non-DEFAULT partition (several values, misaligned or unparsed bounds). */
  irregular: PartitionInfo[];
  defaultPartition: PartitionInfo | undefined;
}

export function indexTable(family: FamilySpec, table: TableSnapshot): TableIndex {
  const index: TableIndex = {
    name: table.name,
    keyed: new Map(),
    irregular: [],
    defaultPartition: undefined,
  };
  const spec = family.partitionBy;
  for (const p of table.partitions) {
    if (p.isDefault) {
      index.defaultPartition = p;
    } else if (
      p.key &&
      (p.key.kind === 'list' ||
        (p.key.kind === 'range' &&
          spec.strategy === 'range' &&
          isAlignedRange(spec.interval, p.key)))
    ) {
      index.keyed.set(keyId(p.key), p);
    } else {
      index.irregular.push(p);
    }
  }
  return index;
}

/** Whether a table already has a partition for `key` (exactly, or inside a wider one). */
export function coverage(
  table: TableIndex,
  key: PartitionKey,
): { state: 'exact' | 'covered' | 'none' } | { state: 'overlap'; by: PartitionInfo } {
  if (table.keyed.has(keyId(key))) return { state: 'exact' };
  for (const p of table.irregular) {
    const bound = parseBound(p.bound);
    if (key.kind === 'list') {
      const covered =
        typeof key.value === 'number'
          ? listValues(bound).includes(key.value)
          : bound.kind === 'list' &&
            bound.values.some((item) => item.kind === 'literal' && item.text === key.value);
      if (covered) return { state: 'covered' };
    } else if (key.kind === 'range') {
      const span = rangeSpan(bound);
      if (!span) continue;
      const from = key.from.getTime();
      const to = key.to.getTime();
      if (span.from <= from && span.to >= to) return { state: 'covered' };
      if (span.from < to && from < span.to) return { state: 'overlap', by: p };
    }
  }
  return { state: 'none' };
}
