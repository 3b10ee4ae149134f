import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { missedIntervals } from '../../src/define/range-window.js';
import { type FamilySpec, parseFamily } from '../../src/define/spec.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Maintenance that does not run for longer than `past` (a cron down, an app stopped) used to
 * leave the intervals between the newest partition and the new window without a partition for
 * good: apply planned only `past` back from now, status reported the gap on every run, inserts
 * for those days failed (or went to DEFAULT), and a drain refused them as outside the window.
 * apply now creates them (and moves DEFAULT's rows of them), back to retention's cutoff.
 */
const daily = (name: string, extra: Partial<FamilySpec> = {}) =>
  parseFamily({
    name,
    tables: [name],
    partitionBy: { strategy: 'range', column: 'at', interval: 'day', premake: 3, past: 1 },
    retention: { keep: 30 },
    ...extra,
  });

const at = (iso: string) => new Date(iso);

async function partitions(table: string): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${table}::regclass ORDER BY 1`;
  return rows.map((r) => r.name);
}

const days = (table: string, from: number, to: number, month = '11') =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `${table}_2026_${month}_${String(from + i).padStart(2, '0')}`,
  );

async function createTable(name: string): Promise<void> {
  await t.sql.unsafe(`CREATE TABLE ${name} (id bigint NOT NULL, at timestamptz NOT NULL,
    PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
}

describe('apply after maintenance paused for longer than past', () => {
  it('creates the days it missed; no gap is left, and their rows have a partition', async () => {
    await createTable('ev');
    const family = daily('ev');
    expect((await apply(t.db, { families: [family], now: at('2026-11-01T12:00:00Z') })).ok).toBe(
      true,
    );
    expect(await partitions('ev')).toEqual(['ev_2026_10_31', ...days('ev', 1, 4)]);
    // Nine days later: Nov 5-8 are before the new window (Nov 9 - Nov 13).
    const later = at('2026-11-10T12:00:00Z');
    const run = await apply(t.db, { families: [family], now: later });
    expect(run.ok).toBe(true);
    const missed = run.results.filter((r) => /^missed/.test(r.step.reason));
    expect(missed.map((r) => r.step.partitions.join())).toEqual(days('ev', 5, 8));
    expect(await partitions('ev')).toEqual(['ev_2026_10_31', ...days('ev', 1, 13)]);
    const report = status([family], await inspect(t.db, [family]), later);
    expect(report.attention).toEqual([]);
    await t.sql`INSERT INTO ev VALUES (1, '2026-11-06 10:00+00')`;
    const [row] = await t.sql<{ part: string }[]>`SELECT tableoid::regclass::text AS part FROM ev`;
    expect(row?.part).toBe('ev_2026_11_06');
    // Nothing more to do.
    expect((await apply(t.db, { families: [family], now: later })).results).toEqual([]);
  });

  it("moves DEFAULT's rows of the missed days into their partitions", async () => {
    await createTable('ev_d');
    const family = daily('ev_d', { defaultPartition: true });
    await apply(t.db, { families: [family], now: at('2026-11-01T12:00:00Z') });
    // Late rows for Nov 6 and 7 arrive while maintenance is down: they go to DEFAULT.
    await t.sql`INSERT INTO ev_d SELECT g, timestamptz '2026-11-06 00:00+00' + g * interval '1 minute'
                FROM generate_series(1, 2000) g`;
    const before = await tableDigest(t.sql, 'ev_d', ['id', 'at']);
    const run = await apply(t.db, { families: [family], now: at('2026-11-10T12:00:00Z') });
    expect(run.ok).toBe(true);
    expect(run.results.filter((r) => r.step.kind === 'drain').map((r) => r.step.label)).toEqual([
      '2026-11-06..2026-11-07',
      '2026-11-07..2026-11-08',
    ]);
    expect(await tableDigest(t.sql, 'ev_d', ['id', 'at'])).toEqual(before);
    const placed = await t.sql<{ part: string; n: number }[]>`
      SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM ev_d GROUP BY 1 ORDER BY 1`;
    expect(placed).toEqual([
      // g minutes after midnight: 1..1439 on Nov 6, 1440..2000 on Nov 7.
      { part: 'ev_d_2026_11_06', n: 1439 },
      { part: 'ev_d_2026_11_07', n: 561 },
    ]);
  });

  it('fills from the newest partition pgparts keeps, not from one made by hand', async () => {
    await createTable('ev_h');
    await t.sql.unsafe(`CREATE TABLE ev_h_old PARTITION OF ev_h
      FOR VALUES FROM ('2026-09-01 00:00+00') TO ('2026-09-02 00:00+00')`);
    const family = daily('ev_h', { retention: undefined });
    const later = at('2026-11-10T12:00:00Z');
    const run = await apply(t.db, { families: [family], now: later });
    expect(run.ok).toBe(true);
    // The window only (Nov 9 - Nov 13): not the 68 days since the hand-made one.
    expect(run.results.map((r) => r.step.label)).toEqual(
      [9, 10, 11, 12, 13].map(
        (d) => `2026-11-${String(d).padStart(2, '0')}..2026-11-${String(d + 1).padStart(2, '0')}`,
      ),
    );
    // The hole between them is a gap for a person, as before.
    const report = status([family], await inspect(t.db, [family]), later);
    expect(report.attention.join('\n')).toMatch(
      /ev_h has no partition for 2026-09-02\.\.2026-11-09/,
    );
  });

  it("goes back no further than retention's cutoff", async () => {
    await createTable('ev_r');
    const family = daily('ev_r');
    await apply(t.db, { families: [family], now: at('2026-11-01T12:00:00Z') });
    // Down for ten weeks: retention keeps 30 days before Jan 15, from Dec 16.
    const run = await apply(t.db, {
      families: [family],
      now: at('2027-01-15T12:00:00Z'),
      allowDestructive: true,
    });
    expect(run.ok).toBe(true);
    expect(await partitions('ev_r')).toEqual([
      ...days('ev_r', 16, 31, '12'),
      ...Array.from({ length: 18 }, (_, i) => `ev_r_2027_01_${String(i + 1).padStart(2, '0')}`),
    ]);
  });
});

describe('missedIntervals', () => {
  const family = daily('x');
  const day = (d: number) => ({
    kind: 'range' as const,
    from: at(`2026-11-${String(d).padStart(2, '0')}T00:00:00Z`),
    to: at(`2026-11-${String(d + 1).padStart(2, '0')}T00:00:00Z`),
  });
  const now = at('2026-11-10T12:00:00Z');
  it('is nothing without a partition before the window, or with no gap', () => {
    expect(missedIntervals(family, [], now)).toEqual([]);
    expect(missedIntervals(family, [day(8), day(9)], now)).toEqual([]);
  });
  it('starts on the grid after a partition that ends off it, and skips what a partition overlaps', () => {
    const range = (from: string, to: string) => ({
      kind: 'range' as const,
      from: at(`2026-11-${from}Z`),
      to: at(`2026-11-${to}Z`),
    });
    // Ends Nov 4 06:00 (the newest that ends before the window, which starts Nov 9), and one
    // made by hand over Nov 7 12:00 - Nov 9 12:00.
    const existing = [range('03T00:00:00', '04T06:00:00'), range('07T12:00:00', '09T12:00:00')];
    expect(missedIntervals(family, existing, now)).toEqual([day(5), day(6)]);
  });
  it('fills only after the newest partition, not between older ones', () => {
    expect(missedIntervals(family, [day(3), day(6)], now)).toEqual([day(7), day(8)]);
  });
});
