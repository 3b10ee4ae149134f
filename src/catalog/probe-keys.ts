import { compareKeys, isAlignedRange, keyId } from '../define/bounds.js';
import { addIntervals, intervalStart } from '../define/intervals.js';
import type { ListValue, PartitionKey } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import type { TableSnapshot } from './snapshot.js';

/**
 * The keys whose rows in DEFAULT the planner may ask about at `now`: every key it could want
 * (LIST: the spec's values, `valuesFrom`'s, the partitions' own; RANGE: the current interval and
 * the premake window, and the partitions' own) that some table of the family has no partition
 * for. A superset of what the plan needs (retention and retired keys are not subtracted): a
 * probe of a key with no rows is one index lookup. Pure.
 */
export function probeKeys(
  family: FamilySpec,
  tables: readonly {
    partitions: readonly Pick<TableSnapshot['partitions'][number], 'key' | 'isDefault'>[];
  }[],
  sourceValues: readonly ListValue[] | null,
  now: Date,
): PartitionKey[] {
  const spec = family.partitionBy;
  const held = tables.map((table) => {
    const ids = new Set<string>();
    for (const p of table.partitions) if (p.key && !p.isDefault) ids.add(keyId(p.key));
    return ids;
  });
  const candidates = new Map<string, PartitionKey>();
  const add = (key: PartitionKey) => candidates.set(keyId(key), key);
  for (const table of tables) {
    for (const p of table.partitions) {
      if (!p.key || p.isDefault) continue;
      if (p.key.kind === 'list') add(p.key);
      else if (p.key.kind === 'range' && spec.strategy === 'range') {
        if (isAlignedRange(spec.interval, p.key)) add(p.key);
      }
    }
  }
  if (spec.strategy === 'list') {
    for (const value of [...spec.values, ...(sourceValues ?? [])]) add({ kind: 'list', value });
  } else {
    const current = intervalStart(spec.interval, now);
    for (let i = 0; i <= spec.premake; i += 1) {
      const from = addIntervals(spec.interval, current, i);
      add({ kind: 'range', from, to: addIntervals(spec.interval, from, 1) });
    }
  }
  return [...candidates.entries()]
    .filter(([id]) => held.some((ids) => !ids.has(id)))
    .map(([, key]) => key)
    .sort(compareKeys);
}
