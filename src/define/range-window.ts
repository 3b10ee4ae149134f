import { compareKeys } from './bounds.js';
import { addIntervals, intervalStart } from './intervals.js';
import type { PartitionKey } from './partition-key.js';
import type { FamilySpec } from './spec.js';

/**
 * Where a RANGE family's retention window starts at `now`: a key that ends by then is retired
 * (`keep` intervals before the current one are kept). undefined without retention, or for LIST.
 */
export function retentionCutoff(family: FamilySpec, now: Date): Date | undefined {
  const spec = family.partitionBy;
  const keep = family.retention?.keep;
  if (spec.strategy !== 'range' || keep === undefined) return undefined;
  return addIntervals(spec.interval, intervalStart(spec.interval, now), -keep);
}

/**
 * Where a RANGE family's premake window ends at `now`: the current interval and `premake` more
 * ahead have partitions up to it. undefined for LIST.
 */
export function premakeEnd(family: FamilySpec, now: Date): Date | undefined {
  const spec = family.partitionBy;
  if (spec.strategy !== 'range') return undefined;
  return addIntervals(spec.interval, intervalStart(spec.interval, now), spec.premake + 1);
}

/**
 * The intervals a RANGE family missed: those between its newest partition that ends by the
 * history window (`past` intervals before the current one) and that window. Maintenance that did
 * not run for longer than `past` (a cron down, an app stopped) would otherwise leave them without
 * a partition for good, and late or backfilled rows of them would go to DEFAULT or fail. None
 * that retention would retire at once (ending by its cutoff), none overlapping a partition
 * (`existing`), none before a partition that is off the grid. `anchoredBy`: the partitions the newest
 * is looked for among (the planner gives those pgparts keeps: partitions made by hand years
 * before the family was declared are a gap for a person to look at, not hundreds of intervals to
 * create unasked); all of `existing` by default. Empty for LIST. Pure.
 */
export function missedIntervals(
  family: FamilySpec,
  existing: Iterable<PartitionKey>,
  now: Date,
  anchoredBy?: Iterable<PartitionKey>,
): PartitionKey[] {
  const spec = family.partitionBy;
  if (spec.strategy !== 'range') return [];
  const ranges = [...existing].filter((k) => k.kind === 'range');
  const anchors = anchoredBy ? [...anchoredBy].filter((k) => k.kind === 'range') : ranges;
  const windowStart = addIntervals(spec.interval, intervalStart(spec.interval, now), -spec.past);
  let newestEnd: Date | undefined;
  for (const key of anchors) {
    if (key.to.getTime() <= windowStart.getTime() && (!newestEnd || key.to > newestEnd)) {
      newestEnd = key.to;
    }
  }
  if (!newestEnd) return [];
  // From the first interval that starts at or after it (a hand-made partition may end off the grid).
  let from = intervalStart(spec.interval, newestEnd);
  if (from.getTime() < newestEnd.getTime()) from = addIntervals(spec.interval, from, 1);
  const cutoff = retentionCutoff(family, now);
  const missed: PartitionKey[] = [];
  for (; from.getTime() < windowStart.getTime(); from = addIntervals(spec.interval, from, 1)) {
    const key: PartitionKey = { kind: 'range', from, to: addIntervals(spec.interval, from, 1) };
    if (cutoff && key.to.getTime() <= cutoff.getTime()) continue;
    if (ranges.some((r) => r.from < key.to && r.to > key.from)) continue;
    missed.push(key);
  }
  return missed.sort(compareKeys);
}
