import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DefaultRows } from '../../src/catalog/snapshot.js';
import {
  addIntervals,
  INTERVALS,
  type Interval,
  intervalStart,
} from '../../src/define/intervals.js';
import { type PartitionKey, partitionName } from '../../src/define/partition-key.js';
import { parseFamily } from '../../src/define/spec.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { plan, SpecMismatchError, type Step } from '../../src/plan/plan.js';
import { boundSpecSql } from '../../src/sql/partition-ddl.js';
import { expectPgpartsError, thrown } from '../support/pgparts-error.js';
import { type FakePartition, fakeFamilySnapshot, fakeSnapshot } from './snapshot-fixture.js';

const NOW = new Date('2026-11-21T05:44:00Z');
const month = (y: number, m: number): PartitionKey => ({
  kind: 'range',
  from: new Date(Date.UTC(y, m - 1, 1)),
  to: new Date(Date.UTC(y, m, 1)),
});
const season = (value: number): PartitionKey => ({ kind: 'list', value });
const everywhere = (family: typeof leaderboardFamily, parts: FakePartition[]) =>
  Object.fromEntries(family.tables.map((t) => [t, parts]));
const summary = (steps: Step[]) => steps.map((s) => `${s.kind} ${s.partitions.join(',')}`);

describe('plan: leaderboard (LIST from season)', () => {
  const family = leaderboardFamily;

  it('creates each season in both tables, referenced table first, seasons ascending', () => {
    const snap = fakeFamilySnapshot(family, everywhere(family, [{ key: { kind: 'default' } }]), {
      sourceValues: [3, 1, 2],
    });
    const planned = plan([family], fakeSnapshot(NOW, snap), NOW);
    expect(summary(planned.steps)).toEqual([
      'create leaderboard_run_s1',
      'create run_group_member_s1',
      'create leaderboard_run_s2',
      'create run_group_member_s2',
      'create leaderboard_run_s3',
      'create run_group_member_s3',
    ]);
    const first = planned.steps[0];
    // Never PARTITION OF (ACCESS EXCLUSIVE on the parent): the locks ATTACH needs, taken first
    // in the documented order, then a standalone table attached with a CHECK sparing its scan.
    expect(first?.sql).toEqual([
      'LOCK TABLE ONLY "public"."leaderboard_run" IN SHARE UPDATE EXCLUSIVE MODE',
      'LOCK TABLE "public"."leaderboard_run_default" IN ACCESS EXCLUSIVE MODE',
      'CREATE TABLE "public"."leaderboard_run_s1" (LIKE "public"."leaderboard_run" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)',
      'ALTER TABLE "public"."leaderboard_run_s1" ADD CONSTRAINT "pgparts_partition_bound" CHECK ("season_id" IS NOT NULL AND "season_id" = 1)',
      'ALTER TABLE "public"."leaderboard_run" ATTACH PARTITION "public"."leaderboard_run_s1" FOR VALUES IN (1)',
      'ALTER TABLE "public"."leaderboard_run_s1" DROP CONSTRAINT "pgparts_partition_bound"',
      `COMMENT ON TABLE "public"."leaderboard_run_s1" IS 'pgparts:managed'`,
      expect.stringMatching(
        /^INSERT INTO "public"\."pgparts_owned_tables" .*'"public"\."leaderboard_run_s1"'::regclass, 'public', 'leaderboard_run_s1', 'leaderboard', 'leaderboard_run', '1', 'partition'/s,
      ),
    ]);
    expect(first?.reason).toMatch(/1 is in public\.season\.id/);
    expect(planned.steps.every((s) => !s.destructive)).toBe(true);
  });

  const drainCase = (defaultRows: DefaultRows) =>
    fakeFamilySnapshot(
      family,
      {
        leaderboard_run: [{ key: { kind: 'default' }, defaultRows }, { key: season(13) }],
        run_group_member: [{ key: { kind: 'default' } }, { key: season(13) }],
      },
      { sourceValues: [13, 14] },
    );

  it('plans a drain, not a CREATE that would fail, when DEFAULT holds rows for the key', () => {
    // What inspect probes: 14 (wanted, no partition) has rows; a search found 12 and 14.
    const snap = drainCase({
      hasRows: true,
      probes: [{ key: season(14), hasRows: true }],
      found: [season(12), season(14)],
      foundAll: true,
      exact: null,
    });
    const planned = plan([family], fakeSnapshot(NOW, snap), NOW);
    expect(planned.steps).toHaveLength(1);
    const drain = planned.steps[0];
    expect(drain).toMatchObject({
      kind: 'drain',
      family: 'leaderboard',
      tables: ['leaderboard_run', 'run_group_member'],
      partitions: ['leaderboard_run_s14', 'run_group_member_s14'],
      key: season(14),
      sql: [],
      destructive: false,
    });
    // Not counted: the probe says only that there are rows.
    expect(drain?.rows).toBeUndefined();
    expect(drain?.reason).toMatch(/leaderboard_run_default holds some row\(s\)/);
    // Season 12's rows stay in DEFAULT: 12 is not a row of season, so it gets no partition.
  });

  it('reports the rows a drain moves when DEFAULT was counted exactly', () => {
    const snap = drainCase({
      hasRows: true,
      probes: [{ key: season(14), hasRows: true }],
      found: [season(12), season(14)],
      foundAll: true,
      exact: {
        total: 70,
        byKey: [
          { key: season(12), rows: 20 },
          { key: season(14), rows: 50 },
        ],
        other: 0,
      },
    });
    const drain = plan([family], fakeSnapshot(NOW, snap), NOW).steps[0];
    expect(drain).toMatchObject({ kind: 'drain', key: season(14), rows: 50 });
    expect(drain?.reason).toMatch(/leaderboard_run_default holds 50 row\(s\)/);
  });

  it('creates a key the probe found no rows of, whatever else DEFAULT holds', () => {
    const snap = drainCase({
      hasRows: true,
      probes: [{ key: season(14), hasRows: false }],
      found: [season(12)],
      foundAll: false,
      exact: null,
    });
    expect(summary(plan([family], fakeSnapshot(NOW, snap), NOW).steps)).toEqual([
      'create leaderboard_run_s14',
      'create run_group_member_s14',
    ]);
  });

  it('for a key inspect did not probe: a complete search decides, else a drain (never a CREATE over rows)', () => {
    const searched = (foundAll: boolean) =>
      drainCase({ hasRows: true, probes: [], found: [season(12)], foundAll, exact: null });
    expect(summary(plan([family], fakeSnapshot(NOW, searched(true)), NOW).steps)).toEqual([
      'create leaderboard_run_s14',
      'create run_group_member_s14',
    ]);
    expect(plan([family], fakeSnapshot(NOW, searched(false)), NOW).steps).toMatchObject([
      { kind: 'drain', key: season(14) },
    ]);
  });

  it('creates the DEFAULT partition the spec declares when it is missing', () => {
    const snap = fakeFamilySnapshot(family, {}, { sourceValues: [] });
    expect(summary(plan([family], fakeSnapshot(NOW, snap), NOW).steps)).toEqual([
      'create leaderboard_run_default',
      'create run_group_member_default',
    ]);
  });

  it('completes a season present in one table only (the family is co-partitioned)', () => {
    const snap = fakeFamilySnapshot(
      family,
      {
        leaderboard_run: [{ key: { kind: 'default' } }, { key: season(7) }],
        run_group_member: [{ key: { kind: 'default' } }],
      },
      { sourceValues: [] },
    );
    const planned = plan([family], fakeSnapshot(NOW, snap), NOW);
    expect(summary(planned.steps)).toEqual(['create run_group_member_s7']);
    expect(planned.steps[0]?.reason).toMatch(/leaderboard_run has leaderboard_run_s7/);
  });

  it('LIST retention keeps the newest values and skips partitions pgparts did not create', () => {
    const kept = parseFamily({ ...family, retention: { keep: 2 } });
    const snap = fakeFamilySnapshot(
      kept,
      {
        leaderboard_run: [
          { key: season(1) },
          { key: season(2), managed: false },
          { key: season(3) },
          { key: season(4) },
        ],
        run_group_member: [
          { key: season(1) },
          { key: season(2) },
          { key: season(3) },
          { key: season(4) },
        ],
      },
      { sourceValues: [1, 2, 3, 4, 5] },
    );
    const planned = plan([kept], fakeSnapshot(NOW, snap), NOW, {});
    expect(summary(planned.steps)).toEqual([
      'create leaderboard_run_default',
      'create run_group_member_default',
      'create leaderboard_run_s5',
      'create run_group_member_s5',
      'retire run_group_member_s1,leaderboard_run_s1',
      'retire run_group_member_s3,leaderboard_run_s3',
    ]);
    expect(planned.steps.filter((s) => s.kind === 'retire').every((s) => s.destructive)).toBe(true);
    const skipped = planned.notices.filter((n) => n.kind === 'retention-skipped');
    expect(skipped.map((n) => n.message)).toEqual([
      '2 is outside the retention window (the newest 2 values), but leaderboard_run_s2 was not created by pgparts: left alone',
    ]);
    expect(
      plan([kept], fakeSnapshot(NOW, snap), NOW, { retention: false }).steps.some(
        (s) => s.kind === 'retire',
      ),
    ).toBe(false);
  });
});

describe('plan: killmails (RANGE by month)', () => {
  const family = killmailFamily;
  const allTables = (keys: PartitionKey[]) =>
    Object.fromEntries(family.tables.map((t) => [t, keys.map((key) => ({ key }))]));

  it('creates the current month and 3 ahead, raw first, bounds in UTC with an explicit offset', () => {
    const noPast = parseFamily({ ...family, partitionBy: { ...family.partitionBy, past: 0 } });
    const snap = fakeFamilySnapshot(noPast, {});
    const planned = plan([noPast], fakeSnapshot(NOW, snap), NOW);
    expect(summary(planned.steps).slice(0, 3)).toEqual([
      'create killmails_raw_2026_11',
      'create killmails_enriched_2026_11',
      'create killmail_participants_2026_11',
    ]);
    expect(planned.steps).toHaveLength(12);
    expect(planned.steps.at(-1)?.partitions).toEqual(['killmail_participants_2027_02']);
    expect(planned.steps[0]?.sql).toContain(
      `ALTER TABLE "public"."killmails_raw" ATTACH PARTITION "public"."killmails_raw_2026_11" FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')`,
    );
    expect(planned.steps[0]?.reason).toBe('the current month has no partition');
  });

  it('honours past: the 12 months of history a fresh install creates, apply creates too', () => {
    const snap = fakeFamilySnapshot(family, allTables([month(2026, 11)]));
    const planned = plan([family], fakeSnapshot(NOW, snap), NOW);
    const created = planned.steps.filter(
      (s) => s.kind === 'create' && s.tables[0] === 'killmails_raw',
    );
    expect(created.map((s) => s.partitions[0])).toEqual([
      ...Array.from({ length: 12 }, (_, i) => {
        const d = new Date(Date.UTC(2025, 10 + i, 1));
        return `killmails_raw_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
      }),
      'killmails_raw_2026_12',
      'killmails_raw_2027_01',
      'killmails_raw_2027_02',
    ]);
    expect(created[0]?.reason).toBe(
      'within the history window (past: 12 months before the current one)',
    );
    expect(() =>
      parseFamily({ ...family, partitionBy: { ...family.partitionBy, past: 13 } }),
    ).toThrow(/past \(13\) reaches back beyond retention.keep \(12\)/);
  });

  it('retires months entirely before the window, referencing tables first; never the window', () => {
    const keys = [month(2025, 9), month(2025, 10), month(2025, 11), month(2026, 11)];
    const snap = fakeFamilySnapshot(family, allTables(keys));
    const planned = plan([family], fakeSnapshot(NOW, snap), NOW);
    const retire = planned.steps.filter((s) => s.kind === 'retire');
    // keep 12: November 2025 (12 months before November 2026) stays, older months go.
    expect(retire.map((s) => s.partitions)).toEqual([
      ['killmail_participants_2025_09', 'killmails_enriched_2025_09', 'killmails_raw_2025_09'],
      ['killmail_participants_2025_10', 'killmails_enriched_2025_10', 'killmails_raw_2025_10'],
    ]);
    expect(retire.every((s) => s.destructive && s.mode === 'drop' && s.sql.length === 0)).toBe(
      true,
    );
    expect(retire[0]?.reason).toMatch(/from 2025-11-01/);
    // Retire steps come after every create step.
    const kinds = planned.steps.map((s) => s.kind);
    expect(kinds.lastIndexOf('create')).toBeLessThan(kinds.indexOf('retire'));
  });

  it('reports, and plans around, a partition that overlaps a wanted month', () => {
    const odd: FakePartition = {
      key: month(2026, 12),
      name: 'killmails_raw_odd',
      bound: boundSpecSql({
        kind: 'range',
        from: new Date('2026-12-15T00:00:00Z'),
        to: new Date('2027-01-15T00:00:00Z'),
      }),
      managed: false,
    };
    const snap = fakeFamilySnapshot(family, { killmails_raw: [odd] });
    const planned = plan([family], fakeSnapshot(NOW, snap), NOW);
    const created = planned.steps.flatMap((s) => s.partitions);
    expect(created).not.toContain('killmails_raw_2026_12');
    expect(created).not.toContain('killmails_raw_2027_01');
    expect(created).toContain('killmails_enriched_2026_12');
    const overlaps = planned.notices.filter((n) => n.kind === 'overlap');
    expect(overlaps.map((n) => n.partition)).toEqual(['killmails_raw_odd', 'killmails_raw_odd']);
    expect(
      planned.notices.some((n) => n.kind === 'misaligned' && n.partition === 'killmails_raw_odd'),
    ).toBe(true);
  });

  it('never plans a DEFAULT partition the spec does not declare', () => {
    const snap = fakeFamilySnapshot(family, allTables([]));
    expect(
      plan([family], fakeSnapshot(NOW, snap), NOW).steps.some((s) => s.key.kind === 'default'),
    ).toBe(false);
  });
});

describe('plan: bad configuration fails before anything runs', () => {
  it('refuses a spec whose column is not the partition key, naming the table and the key', () => {
    const wrong = parseFamily({
      ...killmailFamily,
      partitionBy: { ...killmailFamily.partitionBy, column: 'inserted_at' },
    });
    const snap = fakeFamilySnapshot(wrong, {}, { keyColumn: 'killmail_time' });
    expect(() => plan([wrong], fakeSnapshot(NOW, snap), NOW)).toThrow(SpecMismatchError);
    expectPgpartsError(
      thrown(() => plan([wrong], fakeSnapshot(NOW, snap), NOW)),
      'spec-mismatch',
      {
        message:
          /table public\.killmails_raw is partitioned by RANGE \(killmail_time\), but the spec says RANGE \(inserted_at\)/,
      },
    );
  });

  it('refuses a LIST spec on a RANGE-partitioned table', () => {
    const snap = fakeFamilySnapshot(leaderboardFamily, {}, { strategy: 'range' });
    expectPgpartsError(
      thrown(() => plan([leaderboardFamily], fakeSnapshot(NOW, snap), NOW)),
      'spec-mismatch',
      { message: /but the spec says LIST \(season_id\)/ },
    );
  });

  it.each([
    [{ interval: 'fortnight' }, /unknown interval "fortnight": use one of day, week, month, year/],
    [{ premake: -1 }, /premake must be 0 or more/],
    [{ column: 'x'.repeat(64) }, /partitionBy\.column: an identifier is at most 63 bytes/],
    [
      { column: 'killmail_time\u0000' },
      /partitionBy\.column: an identifier cannot contain a NUL character/,
    ],
  ])('refuses %j in the spec itself', (change, message) => {
    const bad = { ...killmailFamily, partitionBy: { ...killmailFamily.partitionBy, ...change } };
    const snap = fakeFamilySnapshot(killmailFamily, {});
    expectPgpartsError(
      thrown(() => plan([bad as typeof killmailFamily], fakeSnapshot(NOW, snap), NOW)),
      'invalid-config',
      { message: message },
    );
  });

  it('reads names with quotes or semicolons as names, quoted in every statement', () => {
    const odd = parseFamily({
      ...killmailFamily,
      partitionBy: { ...killmailFamily.partitionBy, past: 0 },
      tables: ['Raw"; DROP TABLE season; --'],
    });
    const snap = fakeFamilySnapshot(odd, {});
    const [first] = plan([odd], fakeSnapshot(NOW, snap), NOW).steps;
    expect(first?.sql).toEqual([
      `LOCK TABLE ONLY "public"."Raw""; DROP TABLE season; --" IN SHARE UPDATE EXCLUSIVE MODE`,
      `CREATE TABLE "public"."Raw""; DROP TABLE season; --_2026_11" (LIKE "public"."Raw""; DROP TABLE season; --" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)`,
      `ALTER TABLE "public"."Raw""; DROP TABLE season; --_2026_11" ADD CONSTRAINT "pgparts_partition_bound" CHECK ("killmail_time" IS NOT NULL AND "killmail_time" >= '2026-11-01 00:00:00+00' AND "killmail_time" < '2026-12-01 00:00:00+00')`,
      `ALTER TABLE "public"."Raw""; DROP TABLE season; --" ATTACH PARTITION "public"."Raw""; DROP TABLE season; --_2026_11" FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')`,
      `ALTER TABLE "public"."Raw""; DROP TABLE season; --_2026_11" DROP CONSTRAINT "pgparts_partition_bound"`,
      `COMMENT ON TABLE "public"."Raw""; DROP TABLE season; --_2026_11" IS 'pgparts:managed'`,
      expect.stringMatching(
        /^INSERT INTO "public"\."pgparts_owned_tables" .*'"public"\."Raw""; DROP TABLE season; --_2026_11"'::regclass, 'public', 'Raw"; DROP TABLE season; --_2026_11'/s,
      ),
    ]);
  });

  it('refuses table names PostgreSQL would truncate; accepts any other name (it is quoted)', () => {
    expectPgpartsError(
      thrown(() => parseFamily({ ...killmailFamily, tables: ['k'.repeat(64)] })),
      'invalid-config',
      { message: /tables\.0: an identifier is at most 63 bytes/ },
    );
    // 32 two-byte characters: 32 characters, 64 bytes.
    expectPgpartsError(
      thrown(() => parseFamily({ ...killmailFamily, tables: ['é'.repeat(32)] })),
      'invalid-config',
      { message: /tables\.0: an identifier is at most 63 bytes \(this one has 64/ },
    );
    expect(
      parseFamily({ ...killmailFamily, tables: ['killmails_raw; DROP TABLE season'] }).tables,
    ).toEqual(['killmails_raw; DROP TABLE season']);
  });
});

describe('plan: properties of the RANGE window', () => {
  const intervalArb = fc.constantFrom<Interval>(...INTERVALS);
  const nowArb = fc
    .integer({ min: Date.UTC(1971, 0, 1), max: Date.UTC(2199, 0, 1) })
    .map((ms) => new Date(ms));

  it('covers now and the premade intervals, contiguous, on UTC midnights, nothing else', () => {
    fc.assert(
      fc.property(
        intervalArb,
        nowArb,
        fc.integer({ min: 0, max: 24 }),
        (interval, now, premake) => {
          const family = parseFamily({
            name: 'events',
            tables: ['events', 'event_tags'],
            partitionBy: { strategy: 'range', column: 'at', interval, premake },
          });
          const planned = plan([family], fakeSnapshot(now, fakeFamilySnapshot(family, {})), now);
          expect(planned.steps).toHaveLength(2 * (premake + 1));
          const keys = planned.steps.filter((s) => s.tables[0] === 'events').map((s) => s.key);
          let expectedFrom = intervalStart(interval, now);
          for (const key of keys) {
            if (key.kind !== 'range') throw new Error('not a range key');
            expect(key.from).toEqual(expectedFrom);
            expect(key.to).toEqual(addIntervals(interval, expectedFrom, 1));
            expect(key.from.getUTCHours() + key.from.getUTCMinutes()).toBe(0);
            expectedFrom = key.to;
          }
          const first = keys[0];
          if (first?.kind !== 'range') throw new Error('no first key');
          expect(first.from.getTime()).toBeLessThanOrEqual(now.getTime());
          expect(now.getTime()).toBeLessThan(first.to.getTime());
          for (const step of planned.steps)
            expect(step.sql.find((s) => s.includes(' ATTACH PARTITION '))).toMatch(
              /FROM \('[^']+\+00'\) TO \('[^']+\+00'\)$/,
            );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is idempotent: once its steps are done, the next plan is empty', () => {
    const existingMonths = fc.uniqueArray(fc.integer({ min: -30, max: 10 }), { maxLength: 12 });
    fc.assert(
      fc.property(nowArb, existingMonths, fc.boolean(), (now, offsets, unmanagedFirst) => {
        const family = killmailFamily;
        const current = intervalStart('month', now);
        const existing: FakePartition[] = offsets.map((o, i) => {
          const from = addIntervals('month', current, o);
          return {
            key: { kind: 'range', from, to: addIntervals('month', from, 1) },
            managed: !(unmanagedFirst && i === 0),
          };
        });
        const parts = Object.fromEntries(family.tables.map((t) => [t, existing]));
        const first = plan([family], fakeSnapshot(now, fakeFamilySnapshot(family, parts)), now);
        // Do what the plan says: add what it creates, remove what it retires.
        const after = Object.fromEntries(
          family.tables.map((t) => {
            const created = first.steps
              .filter((s) => s.kind === 'create' && s.tables[0] === t)
              .map((s) => ({ key: s.key }));
            const retired = new Set(
              first.steps
                .filter((s) => s.kind === 'retire')
                .map((s) => partitionName(family, t, s.key)),
            );
            return [
              t,
              [
                ...existing.filter((p) => !retired.has(partitionName(family, t, p.key))),
                ...created,
              ],
            ];
          }),
        );
        const second = plan([family], fakeSnapshot(now, fakeFamilySnapshot(family, after)), now);
        expect(second.steps).toEqual([]);
        // Nothing inside the retention window or the premake window was retired.
        const cutoff = addIntervals('month', current, -12).getTime();
        for (const step of first.steps.filter((s) => s.kind === 'retire')) {
          if (step.key.kind !== 'range') throw new Error('not a range key');
          expect(step.key.to.getTime()).toBeLessThanOrEqual(cutoff);
        }
      }),
      { numRuns: 300 },
    );
  });
});
