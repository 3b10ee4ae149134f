import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  addIntervals,
  INTERVALS,
  type Interval,
  intervalContaining,
  intervalStart,
  intervalSuffix,
  isoWeek,
} from '../../src/define/intervals.js';

/** Instants from 1970 to 2200, to the millisecond. */
const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }).map((ms) => new Date(ms));
const interval = fc.constantFrom<Interval>(...INTERVALS);

/** Zones with DST, half- and quarter-hour offsets, and the date line, for process.env.TZ. */
const ZONES = [
  'UTC',
  'America/New_York',
  'Europe/London',
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Pacific/Chatham',
  'Australia/Lord_Howe',
  'Pacific/Kiritimati',
  'Pacific/Pago_Pago',
];

const originalTz = process.env.TZ;
afterEach(() => {
  if (originalTz === undefined) delete process.env.TZ;
  else process.env.TZ = originalTz;
});

describe('intervals', () => {
  it('the interval containing an instant contains it, and starts at UTC midnight on its grid', () => {
    fc.assert(
      fc.property(interval, instant, (i, t) => {
        const { from, to } = intervalContaining(i, t);
        expect(from.getTime()).toBeLessThanOrEqual(t.getTime());
        expect(t.getTime()).toBeLessThan(to.getTime());
        expect(from.getUTCHours() + from.getUTCMinutes() + from.getUTCSeconds()).toBe(0);
        expect(from.getUTCMilliseconds()).toBe(0);
        if (i === 'week') expect(from.getUTCDay()).toBe(1);
        if (i === 'month' || i === 'year') expect(from.getUTCDate()).toBe(1);
        if (i === 'year') expect(from.getUTCMonth()).toBe(0);
        expect(intervalStart(i, from).getTime()).toBe(from.getTime());
      }),
      { numRuns: 2000 },
    );
  });

  it('adding intervals composes and inverts', () => {
    fc.assert(
      fc.property(
        interval,
        instant,
        fc.integer({ min: -500, max: 500 }),
        fc.integer({ min: -500, max: 500 }),
        (i, t, a, b) => {
          const start = intervalStart(i, t);
          const ab = addIntervals(i, addIntervals(i, start, a), b);
          expect(ab.getTime()).toBe(addIntervals(i, start, a + b).getTime());
          expect(addIntervals(i, addIntervals(i, start, a), -a).getTime()).toBe(start.getTime());
          // Consecutive intervals tile time: no gap, no overlap.
          const next = addIntervals(i, start, 1);
          expect(intervalStart(i, new Date(next.getTime() - 1)).getTime()).toBe(start.getTime());
          expect(intervalStart(i, next).getTime()).toBe(next.getTime());
        },
      ),
    );
  });

  it('month intervals end where the month ends, leap years included', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1970, max: 2199 }), fc.integer({ min: 0, max: 11 }), (y, m) => {
        const lastMs = new Date(Date.UTC(y, m + 1, 1) - 1); // 23:59:59.999 on the month's last day
        const { from, to } = intervalContaining('month', lastMs);
        expect(from.toISOString()).toBe(new Date(Date.UTC(y, m, 1)).toISOString());
        expect(to.toISOString()).toBe(new Date(Date.UTC(y, m + 1, 1)).toISOString());
        const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
        const days = (to.getTime() - from.getTime()) / 86_400_000;
        const expected = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m];
        expect(days).toBe(expected);
      }),
    );
    expect(intervalContaining('month', new Date('2028-02-29T12:00:00Z'))).toEqual({
      from: new Date('2028-02-01T00:00:00Z'),
      to: new Date('2028-03-01T00:00:00Z'),
    });
    expect(intervalContaining('year', new Date('2026-12-31T23:59:59.999Z')).from).toEqual(
      new Date('2026-01-01T00:00:00Z'),
    );
  });

  it('the same instant written with any UTC offset falls in the same interval', () => {
    // Every offset from -12:00 to +14:00 in quarter hours (Chatham +12:45/+13:45, Kathmandu +05:45).
    const offsetMinutes = fc.integer({ min: -48, max: 56 }).map((q) => q * 15);
    fc.assert(
      fc.property(interval, instant, offsetMinutes, (i, t, offset) => {
        const local = new Date(t.getTime() + offset * 60_000);
        const sign = offset < 0 ? '-' : '+';
        const abs = Math.abs(offset);
        const written = `${local.toISOString().slice(0, 23)}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        const parsed = new Date(written);
        expect(parsed.getTime()).toBe(t.getTime());
        expect(intervalStart(i, parsed).getTime()).toBe(intervalStart(i, t).getTime());
      }),
      { numRuns: 2000 },
    );
  });

  it('does not depend on the process time zone, across DST transitions', () => {
    // Instants within a day of the 2026 DST transitions of New York, London and Lord Howe.
    const transitions = [
      '2026-03-08T07:00:00Z',
      '2026-11-01T06:00:00Z',
      '2026-03-29T01:00:00Z',
      '2026-10-25T01:00:00Z',
      '2026-04-04T15:00:00Z',
      '2026-10-03T15:30:00Z',
    ].map((s) => new Date(s).getTime());
    const nearTransition = fc
      .tuple(fc.constantFrom(...transitions), fc.integer({ min: -86_400_000, max: 86_400_000 }))
      .map(([at, delta]) => new Date(at + delta));
    const samples = fc.sample(fc.tuple(interval, fc.oneof(instant, nearTransition)), 500);
    const inUtc = samples.map(([i, t]) => [
      intervalStart(i, t).getTime(),
      addIntervals(i, intervalStart(i, t), 1).getTime(),
      intervalSuffix(i, intervalStart(i, t)),
    ]);
    process.env.TZ = 'America/New_York';
    // The zone really changed for this process: local time moved (so the check below can fail).
    expect(new Date('2026-07-01T00:00:00Z').getHours()).toBe(20);
    for (const zone of ZONES) {
      process.env.TZ = zone;
      const inZone = samples.map(([i, t]) => [
        intervalStart(i, t).getTime(),
        addIntervals(i, intervalStart(i, t), 1).getTime(),
        intervalSuffix(i, intervalStart(i, t)),
      ]);
      expect(inZone, `process TZ ${zone}`).toEqual(inUtc);
    }
  });

  it('names consecutive intervals distinctly, in time order', () => {
    fc.assert(
      fc.property(interval, instant, fc.integer({ min: 1, max: 200 }), (i, t, n) => {
        const start = intervalStart(i, t);
        const names = Array.from({ length: n + 1 }, (_, k) =>
          intervalSuffix(i, addIntervals(i, start, k)),
        );
        expect(new Set(names).size).toBe(names.length);
        expect([...names].sort()).toEqual(names);
      }),
    );
  });

  it('names weeks by ISO 8601 week-numbering year', () => {
    expect(intervalSuffix('week', new Date('2026-11-16T00:00:00Z'))).toBe('2026_w47');
    expect(isoWeek(new Date('2021-01-01T00:00:00Z'))).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(new Date('2024-12-30T00:00:00Z'))).toEqual({ year: 2025, week: 1 });
    expect(isoWeek(new Date('2026-01-01T00:00:00Z'))).toEqual({ year: 2026, week: 1 });
    expect(intervalSuffix('month', new Date('2026-11-01T00:00:00Z'))).toBe('2026_11');
    expect(intervalSuffix('day', new Date('2026-11-21T00:00:00Z'))).toBe('2026_11_21');
    expect(intervalSuffix('year', new Date('2026-01-01T00:00:00Z'))).toBe('2026');
  });
});
