import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';

/** The monthly partitions of `table` that overlap [from, to): what a pruned plan must scan. */
export function monthsOverlapping(table: string, from: Date, to: Date): string[] {
  const names: string[] = [];
  for (let m = intervalStart('month', from); m < to; m = addIntervals('month', m, 1)) {
    names.push(`${table}_${intervalSuffix('month', m)}`);
  }
  return names.sort();
}

/** Every partition the migration created: 12 months back through 3 ahead of `now`. */
export function allMonths(table: string, now: Date): string[] {
  const first = addIntervals('month', intervalStart('month', now), -12);
  return monthsOverlapping(table, first, addIntervals('month', intervalStart('month', now), 4));
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
