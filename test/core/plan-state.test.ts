import { describe, expect, it } from 'vitest';
import type { UnfinishedOperation } from '../../src/catalog/snapshot.js';
import { keyShapeProblem } from '../../src/define/key-checks.js';
import { keyFromLabel, type PartitionKey } from '../../src/define/partition-key.js';
import { parseFamily } from '../../src/define/spec.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { plan } from '../../src/plan/plan.js';
import { status } from '../../src/plan/status.js';
import { fakeFamilySnapshot, fakeSnapshot } from './snapshot-fixture.js';

const NOW = new Date('2026-11-21T05:44:00Z');
const season = (value: number): PartitionKey => ({ kind: 'list', value });
const family = leaderboardFamily;
const everywhere = (values: number[]) =>
  Object.fromEntries(
    family.tables.map((t) => [
      t,
      [{ key: { kind: 'default' } as const }, ...values.map((v) => ({ key: season(v) }))],
    ]),
  );

function operation(key: string, op: Partial<UnfinishedOperation> = {}): UnfinishedOperation {
  return {
    key,
    operation: 'drain',
    phase: 'copied',
    detail: null,
    startedAt: new Date('2026-11-21T05:00:00Z'),
    updatedAt: new Date('2026-11-21T05:01:00Z'),
    backendPid: 123,
    running: false,
    ...op,
  };
}

describe('the planner and operations on keys', () => {
  it('resumes an interrupted drain instead of creating its key, and status --check fails on it', () => {
    const found = fakeFamilySnapshot(family, everywhere([1]), { sourceValues: [1, 2] });
    found.unfinished = {
      operations: [operation('2')],
      drainTables: [{ name: 'leaderboard_run_s2', role: 'staging' }],
      captureTriggers: ['leaderboard_run_default'],
      changeLogRows: 42,
    };
    const snapshot = fakeSnapshot(NOW, found);
    const planned = plan([family], snapshot, NOW);
    expect(planned.steps.map((s) => [s.kind, s.label, s.destructive])).toEqual([
      ['drain', '2', false],
    ]);
    expect(planned.steps[0]?.reason).toMatch(/interrupted drain of 2 \(phase copied/);
    const report = status([family], snapshot, NOW, planned);
    expect(report.attention.join('\n')).toMatch(/interrupted drain of 2 .*started 44 min ago/);
    expect(report.attention.join('\n')).toMatch(/change log: 42 row/);
  });

  it('leaves a key whose operation is running to it, and does not alert on it', () => {
    const found = fakeFamilySnapshot(family, everywhere([1]), { sourceValues: [1, 2] });
    found.unfinished.operations = [operation('2', { running: true })];
    const snapshot = fakeSnapshot(NOW, found);
    const planned = plan([family], snapshot, NOW);
    expect(planned.steps).toEqual([]);
    expect(planned.notices.map((n) => n.kind)).toContain('operation-running');
    const attention = status([family], snapshot, NOW, planned).attention;
    expect(attention.filter((a) => /interrupted/.test(a))).toEqual([]);
  });

  it('finishes an interrupted retire in the mode it began, as a destructive step', () => {
    const found = fakeFamilySnapshot(
      family,
      {
        leaderboard_run: [{ key: { kind: 'default' } }, { key: season(1) }],
        run_group_member: [{ key: { kind: 'default' } }],
      },
      { sourceValues: [1] },
    );
    found.unfinished.operations = [
      operation('1', { operation: 'retire', phase: 'detach', detail: 'archive' }),
    ];
    const planned = plan([family], fakeSnapshot(NOW, found), NOW);
    expect(planned.steps).toMatchObject([
      {
        kind: 'retire',
        label: '1',
        destructive: true,
        mode: 'archive',
        partitions: ['leaderboard_run_s1'],
      },
    ]);
  });

  it('never retires a value the spec lists, whatever the retention', () => {
    const listed = parseFamily({
      ...family,
      partitionBy: { ...family.partitionBy, valuesFrom: undefined, values: [1, 2, 3] },
      retention: { keep: 1 },
    });
    const found = fakeFamilySnapshot(listed, everywhere([1, 2, 3]));
    const planned = plan([listed], fakeSnapshot(NOW, found), NOW);
    expect(planned.steps.filter((s) => s.kind === 'retire')).toEqual([]);
  });
});

describe('key shape', () => {
  const killmails = parseFamily({
    name: 'k',
    tables: ['k'],
    partitionBy: { strategy: 'range', column: 't', interval: 'month' },
  });
  it('refuses years outside 1900..9999 and intervals off the grid', () => {
    const at = (y: number, m: number, d = 1) => {
      const date = new Date(Date.UTC(2000, m - 1, d));
      date.setUTCFullYear(y);
      return date;
    };
    expect(keyShapeProblem(killmails, { kind: 'range', from: at(26, 11), to: at(26, 12) })).toMatch(
      /year 26/,
    );
    expect(
      keyShapeProblem(killmails, { kind: 'range', from: at(10000, 1), to: at(10000, 2) }),
    ).toMatch(/year 10000/);
    expect(
      keyShapeProblem(killmails, { kind: 'range', from: at(2026, 11, 2), to: at(2026, 12, 2) }),
    ).toMatch(/not one month/);
    expect(
      keyShapeProblem(killmails, { kind: 'range', from: at(2026, 11), to: at(2026, 12) }),
    ).toBeUndefined();
    expect(keyShapeProblem(killmails, season(3))).toMatch(/LIST key on a RANGE family/);
  });

  it('reads back the labels it prints', () => {
    expect(keyFromLabel(killmails, '2026-11-01..2026-12-01')).toEqual({
      kind: 'range',
      from: new Date('2026-11-01T00:00:00Z'),
      to: new Date('2026-12-01T00:00:00Z'),
    });
    expect(keyFromLabel(family, '-3')).toEqual(season(-3));
    expect(keyFromLabel(family, '3x')).toBeUndefined();
  });
  it('status names an interrupted conversion or reattach once, with its age', () => {
    const found = fakeFamilySnapshot(family, everywhere([1]), { sourceValues: [1] });
    found.unfinished = {
      operations: [
        // Cut short in its swap step (a conversion whose swap ended is paused, not interrupted).
        operation('(whole family)', { operation: 'convert', phase: 'swap' }),
        operation('1', { operation: 'reattach', phase: 'moved' }),
      ],
      drainTables: [],
      captureTriggers: [],
      changeLogRows: 0,
    };
    const report = status([family], fakeSnapshot(NOW, found), NOW);
    const about = (what: RegExp) => report.attention.filter((a) => what.test(a));
    expect(about(/conversion|convert/)).toEqual([
      expect.stringMatching(
        /^family leaderboard: an interrupted convert of \(whole family\) \(phase swap, started 44 min ago/,
      ),
    ]);
    expect(about(/reattach/)).toHaveLength(1);
  });
});

describe('counts in messages', () => {
  it('one of a thing is singular: "retention 1 year", "the newest 1 value"', () => {
    const yearly = parseFamily({
      name: 'yearly',
      tables: ['yearly_events'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'year', premake: 0 },
      retention: { keep: 1 },
    });
    const seasons = parseFamily({ ...family, retention: { keep: 1, mode: 'drop' } });
    const snapshot = fakeSnapshot(
      NOW,
      fakeFamilySnapshot(yearly, {}),
      fakeFamilySnapshot(seasons, everywhere([1, 2]), { sourceValues: [1, 2] }),
    );
    const report = status([yearly, seasons], snapshot, NOW);
    expect(report.families.map((f) => f.description)).toEqual([
      'RANGE by at, one year each, premake 0, retention 1 year (drop)',
      expect.stringMatching(/, retention the newest 1 value \(drop\)$/),
    ]);
  });
});
