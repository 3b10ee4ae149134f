import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  boundKey,
  isAlignedRange,
  listValues,
  parseBound,
  parseTimestamp,
  rangeSpan,
} from '../../src/define/bounds.js';
import { addIntervals, INTERVALS, intervalStart } from '../../src/define/intervals.js';
import { boundSpecSql } from '../../src/sql/partition-ddl.js';

describe('parseBound', () => {
  it('reads what pg_get_expr prints', () => {
    expect(parseBound('DEFAULT')).toEqual({ kind: 'default' });
    expect(parseBound("FOR VALUES IN ('-1', 3)")).toEqual({
      kind: 'list',
      values: [
        { kind: 'literal', text: '-1' },
        { kind: 'literal', text: '3' },
      ],
    });
    expect(parseBound("FOR VALUES FROM (MINVALUE) TO ('2026-11-01 00:00:00+00')")).toEqual({
      kind: 'range',
      from: [{ kind: 'minvalue' }],
      to: [{ kind: 'literal', text: '2026-11-01 00:00:00+00' }],
    });
    expect(parseBound("FOR VALUES IN ('it''s', NULL)")).toEqual({
      kind: 'list',
      values: [{ kind: 'literal', text: "it's" }, { kind: 'null' }],
    });
    expect(parseBound('FOR VALUES WITH (modulus 4, remainder 0)').kind).toBe('hash');
    expect(parseBound('FOR VALUES IN (1').kind).toBe('unknown');
  });

  it('turns single keys into partition keys, and nothing else', () => {
    expect(boundKey(parseBound('FOR VALUES IN (14)'))).toEqual({ kind: 'list', value: 14 });
    expect(boundKey(parseBound("FOR VALUES IN ('-2')"))).toEqual({ kind: 'list', value: -2 });
    expect(boundKey(parseBound('FOR VALUES IN (1, 2)'))).toBeUndefined();
    expect(boundKey(parseBound("FOR VALUES IN ('abc')"))).toEqual({ kind: 'list', value: 'abc' });
    expect(
      boundKey(parseBound("FOR VALUES FROM (MINVALUE) TO ('2026-11-01 00:00:00+00')")),
    ).toBeUndefined();
    expect(listValues(parseBound("FOR VALUES IN (1, '-2', NULL)"))).toEqual([1, -2]);
    expect(rangeSpan(parseBound("FOR VALUES FROM (MINVALUE) TO ('2026-11-01')"))).toEqual({
      from: Number.NEGATIVE_INFINITY,
      to: Date.UTC(2026, 10, 1),
    });
  });

  it('round-trips every RANGE and LIST key pgparts writes', () => {
    const key = fc.oneof(
      fc
        .tuple(
          fc.constantFrom(...INTERVALS),
          fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) }),
          fc.integer({ min: 1, max: 3 }),
        )
        .map(([i, ms, n]) => {
          const from = intervalStart(i, new Date(ms));
          return { kind: 'range' as const, from, to: addIntervals(i, from, n) };
        }),
      fc
        .integer({ min: -1_000_000, max: 1_000_000 })
        .map((value) => ({ kind: 'list' as const, value })),
    );
    fc.assert(
      fc.property(key, (k) => {
        // PostgreSQL prints a negative integer quoted; pgparts writes it bare.
        const printed = boundSpecSql(k).replace(/IN \((-\d+)\)/, "IN ('$1')");
        expect(boundKey(parseBound(printed))).toEqual(k);
      }),
    );
  });
});

describe('parseTimestamp', () => {
  it('reads ISO timestamps with any offset, and dates as UTC', () => {
    const nov = Date.UTC(2026, 10, 1);
    expect(parseTimestamp('2026-11-01 00:00:00+00')?.getTime()).toBe(nov);
    expect(parseTimestamp('2026-11-01 05:30:00+05:30')?.getTime()).toBe(nov);
    expect(parseTimestamp('2026-11-01 13:45:00+13:45')?.getTime()).toBe(nov);
    expect(parseTimestamp('2026-10-31 20:00:00-04')?.getTime()).toBe(nov);
    expect(parseTimestamp('2026-10-31 23:59:59.5-00:00:30')?.getTime()).toBe(nov + 30_000 - 500);
    expect(parseTimestamp('2026-11-01')?.getTime()).toBe(nov);
    expect(parseTimestamp('2026-11-01 00:00:00')?.getTime()).toBe(nov);
    expect(parseTimestamp('infinity')).toBeUndefined();
    expect(parseTimestamp('01/11/2026 05:30:00 IST')).toBeUndefined();
  });

  it('checks alignment to the interval grid', () => {
    const from = new Date('2026-11-01T00:00:00Z');
    expect(isAlignedRange('month', { from, to: new Date('2026-12-01T00:00:00Z') })).toBe(true);
    expect(isAlignedRange('month', { from, to: new Date('2027-01-01T00:00:00Z') })).toBe(false);
    expect(
      isAlignedRange('month', {
        from: new Date('2026-11-15T00:00:00Z'),
        to: new Date('2026-12-15T00:00:00Z'),
      }),
    ).toBe(false);
  });
});
