import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';
import { type FamilySpec, parseFamilies, parseFamily } from '../../src/define/spec.js';
import { plan } from '../../src/plan/plan.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const current = intervalStart('month', new Date());
const month = (offset: number) => addIntervals('month', current, offset);

const events = (schema: string, retention: boolean): FamilySpec =>
  parseFamily({
    name: 'events',
    schema,
    tables: ['events'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
    ...(retention ? { retention: { keep: 2 } } : {}),
  });

beforeAll(async () => {
  for (const schema of ['a', 'b']) {
    await t.sql.unsafe(`CREATE SCHEMA ${schema}`);
    await t.sql.unsafe(
      `CREATE TABLE ${schema}.events (id bigint, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`,
    );
    for (let offset = -6; offset <= 1; offset++) {
      await t.sql.unsafe(
        `CREATE TABLE ${schema}.events_${intervalSuffix('month', month(offset))} PARTITION OF ${schema}.events
         FOR VALUES FROM ('${month(offset).toISOString()}') TO ('${month(offset + 1).toISOString()}')`,
      );
      await t.sql.unsafe(
        `COMMENT ON TABLE ${schema}.events_${intervalSuffix('month', month(offset))} IS 'pgparts:managed'`,
      );
    }
    await t.sql.unsafe(
      `INSERT INTO ${schema}.events SELECT i, '${month(-6).toISOString()}'::timestamptz + i * interval '10 minutes'
       FROM generate_series(1, 20000) i`,
    );
  }
});

describe('a family is its schema and name', () => {
  it('two families named events (a.events without retention, b.events with): refused, a.events untouched', async () => {
    const before = await tableDigest(t.sql, 'a.events', ['id', 'at']);
    expect(before.rows).toBe(20000);
    const both = [events('a', false), events('b', true)];
    expect(() => parseFamilies(both)).toThrow(expect.objectContaining({ code: 'invalid-config' }));
    await expect(apply(t.db, { families: both, allowDestructive: true })).rejects.toMatchObject({
      code: 'invalid-config',
    });
    await expect(inspect(t.db, both)).rejects.toMatchObject({ code: 'invalid-config' });
    expect(await tableDigest(t.sql, 'a.events', ['id', 'at'])).toEqual(before);
    const [parts] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'a.events'::regclass`;
    expect(parts?.n).toBe(8);
  });

  it('the snapshot of one is never taken for the other', async () => {
    const b = events('b', true);
    const snapshot = await inspect(t.db, [b]);
    const a = events('a', false);
    expect(() => plan([a], snapshot, snapshot.takenAt)).toThrow(/no family a\.events/);
    // b alone: retention retires b's old months only, a.events keeps every row.
    const before = await tableDigest(t.sql, 'a.events', ['id', 'at']);
    const result = await apply(t.db, { families: [b], allowDestructive: true });
    expect(result.ok).toBe(true);
    expect(result.results.filter((r) => r.step.kind === 'retire')).toHaveLength(4);
    expect(await tableDigest(t.sql, 'a.events', ['id', 'at'])).toEqual(before);
    expect(status([a], await inspect(t.db, [a])).families[0]?.tables[0]?.partitions).toHaveLength(
      8,
    );
  });
});
