import { beforeAll, describe, expect, it } from 'vitest';
import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';
import { parseFamily } from '../../src/define/spec.js';
import { retireDryRun, retireKey } from '../../src/ops/retention.js';
import { planStatements } from '../../src/run/step-statements.js';
import { familyMigrationSql } from '../../src/sql/partition-ddl.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A family installed by its migration (what `pgparts generate` writes: DEFAULT and the months
 * around the day it runs, each with pgparts's comment) that no pgparts operation has changed
 * yet: its ownership is carried over by the first one that does, before its first change.
 */
const events = (keep?: number) =>
  parseFamily({
    name: 'co_events',
    tables: ['co_events'],
    partitionBy: {
      strategy: 'range',
      column: 'at',
      interval: 'month',
      premake: 1,
      past: keep ? 0 : 3,
    },
    defaultPartition: true,
    ...(keep ? { retention: { keep, mode: 'drop' as const } } : {}),
  });
const current = intervalStart('month', new Date());
const month = (offset: number) =>
  ({
    kind: 'range',
    from: addIntervals('month', current, offset),
    to: addIntervals('month', current, offset + 1),
  }) as const;
const name = (offset: number) => `co_events_${intervalSuffix('month', month(offset).from)}`;
const ORDER = ['id', 'at'];
const within = (offset: number) =>
  `at >= '${month(offset).from.toISOString()}' AND at < '${month(offset).to.toISOString()}'`;

beforeAll(async () => {
  await t.sql.unsafe(`CREATE TABLE co_events (id bigint NOT NULL, at timestamptz NOT NULL,
    PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
  // The months three back to one ahead.
  for (const statement of familyMigrationSql(events())) await t.sql.unsafe(statement);
  // Five months back, made by hand under the name pgparts would give it, without its comment.
  await t.sql.unsafe(`CREATE TABLE ${name(-5)} PARTITION OF co_events
    FOR VALUES FROM ('${month(-5).from.toISOString()}') TO ('${month(-5).to.toISOString()}')`);
  await t.sql.unsafe(`INSERT INTO co_events
    SELECT i, timestamptz '${month(-5).from.toISOString()}' + i * interval '1 hour'
    FROM generate_series(0, 24 * 140) i`);
});

describe('a retire dry run before the family is carried over', () => {
  it('prints the DROP the retire then runs, for a partition its migration made; and refuses one made by hand', async () => {
    const [adopted] = await t.sql<{ t: string | null }[]>`
      SELECT to_regclass('pgparts_ownership_adopted')::text AS t`;
    expect(adopted?.t).toBeNull();
    const drop = `DROP TABLE "public"."${name(-3)}"`;
    const dry = await retireDryRun(t.db, events(), month(-3));
    expect(dry.units.flatMap((u) => u.statements)).toContain(drop);

    // apply's plan (the same preview, before its carry-over) prints it too.
    const planned = await planStatements(t.db, [events(2)]);
    const retire = planned.steps.find(
      (s) => s.kind === 'retire' && s.partitions.includes(name(-3)),
    );
    expect(retire?.sql).toContain(drop);

    // The hand-made month: not the carry-over's to adopt, so the dry run refuses it, as the
    // retire does.
    const refusal = {
      code: 'refused',
      message: expect.stringContaining(`${name(-5)} was not created by pgparts`),
    };
    await expect(retireDryRun(t.db, events(), month(-5))).rejects.toMatchObject(refusal);

    const others = await tableDigest(t.sql, 'co_events', ORDER, `NOT (${within(-3)})`);
    expect(await tableDigest(t.sql, 'co_events', ORDER, within(-3))).not.toMatchObject({ rows: 0 });
    const result = await retireKey(t.db, events(), month(-3));
    expect(result.status).toBe('retired');
    const [gone] = await t.sql<{ t: string | null }[]>`SELECT to_regclass(${name(-3)})::text AS t`;
    expect(gone?.t).toBeNull();
    expect(await tableDigest(t.sql, 'co_events', ORDER, within(-3))).toMatchObject({ rows: 0 });
    expect(await tableDigest(t.sql, 'co_events', ORDER, `NOT (${within(-3)})`)).toEqual(others);
    await expect(retireKey(t.db, events(), month(-5))).rejects.toMatchObject(refusal);
  });
});
