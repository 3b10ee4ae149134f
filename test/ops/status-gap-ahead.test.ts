import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey } from '../../src/ops/retention.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Rows for a month far ahead land in DEFAULT; status says to drain them, and the drain gives that
 * month its partition. Between the premake window and it there are no partitions yet: apply
 * creates each as the window reaches it. That is no problem for `status --check` to fail on for
 * months, while a hole behind the window (a partition dropped by hand) still is.
 */
const family = parseFamily({
  name: 'readings',
  tables: ['readings'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 1 },
  defaultPartition: true,
});

describe('a month drained far ahead of the premake window', () => {
  it('leaves a gap that status reports without failing --check; a hole inside the window still fails it', async () => {
    await t.sql.unsafe(`CREATE TABLE readings (id bigint NOT NULL, at timestamptz NOT NULL,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    const now = new Date();
    expect((await apply(t.db, { families: [family], now })).failed).toBe(0);
    const far = addIntervals('month', intervalStart('month', now), 6);
    await t.sql`INSERT INTO readings SELECT g, ${far.toISOString()}::timestamptz + g * interval '1 minute'
                FROM generate_series(1, 50) g`;
    const drained = await drainKey(t.db, family, {
      kind: 'range',
      from: far,
      to: addIntervals('month', far, 1),
    });
    expect(drained.rowsMoved).toBe(50);

    const report = status([family], await inspect(t.db, [family]), now);
    const gap = report.families[0]?.notices.find((n) => n.kind === 'gap');
    expect(gap).toMatchObject({
      severity: 'info',
      message: expect.stringMatching(
        /readings has no partitions yet for .* after the premake window .* apply creates each as the window reaches it/,
      ),
    });
    expect(report.attention.filter((line) => line.includes('no partition'))).toEqual([]);

    // A partition of the window dropped by hand: a hole that needs a person.
    const month = intervalStart('month', now).toISOString().slice(0, 7).replace('-', '_');
    await t.sql.unsafe(`DROP TABLE readings_${month}`);
    const after = status([family], await inspect(t.db, [family]), now);
    expect(
      after.families[0]?.notices.filter((n) => n.kind === 'gap' && n.severity === 'warning'),
    ).toHaveLength(1);
  });
});

describe('a month retired between two kept', () => {
  const t2 = useTestDatabase({ migrated: false });
  const history = parseFamily({
    name: 'meters',
    tables: ['meters'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 4 },
    defaultPartition: true,
  });
  it('leaves a gap status reports without failing --check; the same hole not retired still fails it', async () => {
    await t2.sql.unsafe(`CREATE TABLE meters (id bigint NOT NULL, at timestamptz NOT NULL,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    const now = new Date();
    expect((await apply(t2.db, { families: [history], now })).failed).toBe(0);
    const from = addIntervals('month', intervalStart('month', now), -2);
    const key = { kind: 'range', from, to: addIntervals('month', from, 1) } as const;
    const month = from.toISOString().slice(0, 7).replace('-', '_');
    const gaps = async () =>
      status([history], await inspect(t2.db, [history]), now).families[0]?.notices.filter(
        (n) => n.kind === 'gap',
      );
    // Dropped by hand first: a hole that needs a person.
    await t2.sql.unsafe(`ALTER TABLE meters DETACH PARTITION meters_${month}`);
    expect(await gaps()).toMatchObject([{ severity: 'warning' }]);
    await t2.sql.unsafe(
      `ALTER TABLE meters ATTACH PARTITION meters_${month} ${`FOR VALUES FROM ('${from.toISOString()}') TO ('${key.to.toISOString()}')`}`,
    );
    // Retired: what was asked for.
    const retired = await retireKey(t2.db, history, key, { force: true });
    expect(retired.status).toBe('retired');
    expect(await gaps()).toMatchObject([
      {
        severity: 'info',
        message: expect.stringMatching(
          /meters has no partition for .*: retired \(pgparts_retired_keys\), so apply does not create it; rows of it go to DEFAULT/,
        ),
      },
    ]);
  });
});
