import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { retireDryRun, retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Partition names come from the values: text values that differ only in case or punctuation
 * give one name ('US-East' and 'us-east' both `Orders_us_east`), and a value `default` gives the
 * DEFAULT partition's. A drain or retire of such a key finds a partition by that name that holds
 * another bound; it must refuse, changing nothing, instead of retiring (dropping) the other key's
 * rows or DEFAULT's, or calling the key drained.
 */
const spec = {
  name: 'orders',
  schema: 'App Data',
  tables: ['Orders'],
  partitionBy: {
    strategy: 'list',
    column: 'Region',
    values: ['EU-West'],
    naming: '{table}_{value}',
  },
  defaultPartition: true,
} as const;
const orders = parseFamily(spec);
const region = (value: string) => ({ kind: 'list', value }) as const;
const digest = () => tableDigest(t.sql, 'App Data.Orders', ['id']);

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE SCHEMA "App Data";
    CREATE TABLE "App Data"."Orders" (id bigint NOT NULL, "Region" text NOT NULL, total int,
      PRIMARY KEY (id, "Region")) PARTITION BY LIST ("Region");`);
  expect((await apply(t.db, { families: [orders] })).failed).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO "App Data"."Orders" SELECT g, 'US-East', g FROM generate_series(1, 100) g;
    INSERT INTO "App Data"."Orders" SELECT g, 'us-east', g FROM generate_series(101, 110) g;
    INSERT INTO "App Data"."Orders" VALUES (111, 'default', 1), (112, 'Default', 2);`);
  const drained = await drainKey(t.db, orders, region('US-East'));
  expect(drained).toMatchObject({ status: 'drained', rowsMoved: 100 });
});

/** Where each row is: partition name and rows. */
async function placement() {
  return t.sql<{ p: string; n: number }[]>`
    SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM "App Data"."Orders"
    GROUP BY 1 ORDER BY 1`;
}

describe('a key whose partition name is taken by another key or by DEFAULT', () => {
  it.each([
    ['us-east', `FOR VALUES IN ('US-East')`],
    ['default', 'DEFAULT'],
  ])(
    'retire %s (dry run and run) is refused, naming what the partition holds; nothing changes',
    async (value, holds) => {
      const before = { rows: await digest(), placement: await placement() };
      for (const attempt of [
        () => retireDryRun(t.db, orders, region(value), { force: true }),
        () => retireKey(t.db, orders, region(value), { force: true }),
      ]) {
        expectPgpartsError(await rejection(attempt()), 'refused', {
          message: new RegExp(`holds ${holds.replace(/[()]/g, '\\$&')}, not ${value}`),
        });
      }
      expect({ rows: await digest(), placement: await placement() }).toEqual(before);
      const [retired] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM "App Data".pgparts_retired_keys`.catch(() => [{ n: 0 }]);
      expect(retired?.n ?? 0).toBe(0);
    },
  );

  it.each([
    ['us-east', `FOR VALUES IN ('US-East')`],
    ['default', 'DEFAULT'],
  ])(
    'drain %s (dry run and run) is refused instead of "nothing to drain"; its rows stay in DEFAULT',
    async (value, holds) => {
      const before = { rows: await digest(), placement: await placement() };
      for (const attempt of [
        () => drainDryRun(t.db, orders, region(value)),
        () => drainKey(t.db, orders, region(value)),
      ]) {
        expectPgpartsError(await rejection(attempt()), 'refused', {
          message: `partition Orders_${value === 'default' ? 'default' : 'us_east'} holds ${holds}, not this key`,
        });
      }
      expect({ rows: await digest(), placement: await placement() }).toEqual(before);
    },
  );

  it("a declared value that names DEFAULT's partition is a configuration error when the spec is declared", () => {
    expectPgpartsError(
      thrown(() =>
        parseFamily({
          ...spec,
          partitionBy: { ...spec.partitionBy, values: ['EU-West', 'default'] },
        }),
      ),
      'invalid-config',
      {
        message:
          /LIST value "default" gives the partition name Orders_default, the DEFAULT partition's/,
      },
    );
    expectPgpartsError(
      thrown(() =>
        parseFamily({
          ...spec,
          partitionBy: { ...spec.partitionBy, values: ['US-East', 'us-east'] },
        }),
      ),
      'invalid-config',
      { message: /"US-East" and "us-east" both give the partition name Orders_us_east/ },
    );
  });
});
