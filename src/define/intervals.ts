/**
 * Time intervals for RANGE partitions, computed in UTC. Every function is pure and takes the
 * instant it works from, so the planner can be tested for any clock.
 */
export const INTERVALS = ['day', 'week', 'month', 'year'] as const;
export type Interval = (typeof INTERVALS)[number];

export const DAY_MS = 86_400_000;

/** The start of the interval that contains `instant` (weeks start on Monday, ISO 8601). */
export function intervalStart(interval: Interval, instant: Date): Date {
  const y = instant.getUTCFullYear();
  const m = instant.getUTCMonth();
  const d = instant.getUTCDate();
  switch (interval) {
    case 'day':
      return new Date(Date.UTC(y, m, d));
    case 'week': {
      const isoWeekday = (instant.getUTCDay() + 6) % 7; // Monday = 0
      return new Date(Date.UTC(y, m, d - isoWeekday));
    }
    case 'month':
      return new Date(Date.UTC(y, m, 1));
    case 'year':
      return new Date(Date.UTC(y, 0, 1));
  }
}

/** The start of the interval `count` intervals after the one starting at `start`. */
export function addIntervals(interval: Interval, start: Date, count: number): Date {
  const y = start.getUTCFullYear();
  const m = start.getUTCMonth();
  const d = start.getUTCDate();
  switch (interval) {
    case 'day':
      return new Date(Date.UTC(y, m, d + count));
    case 'week':
      return new Date(Date.UTC(y, m, d + 7 * count));
    case 'month':
      return new Date(Date.UTC(y, m + count, 1));
    case 'year':
      return new Date(Date.UTC(y + count, 0, 1));
  }
}

/** A half-open range [from, to) of one interval. */
export interface TimeRange {
  from: Date;
  to: Date;
}

export function intervalContaining(interval: Interval, instant: Date): TimeRange {
  const from = intervalStart(interval, instant);
  return { from, to: addIntervals(interval, from, 1) };
}

/** ISO 8601 week-numbering year and week of a date (UTC): the week's Thursday decides the year. */
export function isoWeek(instant: Date): { year: number; week: number } {
  const thursday = new Date(
    Date.UTC(instant.getUTCFullYear(), instant.getUTCMonth(), instant.getUTCDate()),
  );
  thursday.setUTCDate(thursday.getUTCDate() + 3 - ((thursday.getUTCDay() + 6) % 7));
  const year = thursday.getUTCFullYear();
  const dayOfYear = (thursday.getTime() - Date.UTC(year, 0, 1)) / DAY_MS;
  return { year, week: Math.floor(dayOfYear / 7) + 1 };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The suffix that names an interval's partition: 2026_11, 2026_w47, 2026_11_21, 2026. */
export function intervalSuffix(interval: Interval, start: Date): string {
  const y = start.getUTCFullYear();
  switch (interval) {
    case 'day':
      return `${y}_${pad(start.getUTCMonth() + 1)}_${pad(start.getUTCDate())}`;
    case 'week': {
      const w = isoWeek(start);
      return `${w.year}_w${pad(w.week)}`;
    }
    case 'month':
      return `${y}_${pad(start.getUTCMonth() + 1)}`;
    case 'year':
      return String(y);
  }
}
