import { bigint, integer, jsonb, pgTable, primaryKey } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { convertBackfill } from '../../src/ops/convert/backfill.js';
import { convertFill } from '../../src/ops/convert/fill.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { convertSwap } from '../../src/ops/convert/swap.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { plan } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * `ALTER TABLE parent ALTER COLUMN c SET STATISTICS n` reaches the partitions that exist; a table
 * created later, by PARTITION OF or by LIKE, gets the default target. So every partition pgparts
 * made after a schema raised a column's target was planned from the default 100-value sample.
 * Each table pgparts creates to become a partition (the create step's, a drain's staging table,
 * a swap's new DEFAULT, a conversion's twin) now takes the parent's targets.
 */
const family = (premake: number) =>
  parseFamily({
    name: 'ev',
    tables: ['ev'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake },
    defaultPartition: true,
  });

/** Per table of `parent`'s family (the parent included), the columns' targets that are set. */
async function targets(parent: string): Promise<Record<string, string>> {
  const rows = await t.sql<{ name: string; targets: string | null }[]>`
    SELECT c.relname AS name,
           (SELECT string_agg(a.attname || '=' || a.attstattarget, ',' ORDER BY a.attnum)
              FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND a.attstattarget >= 0) AS targets
    FROM pg_class c
    WHERE c.oid = ${parent}::regclass
       OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = ${parent}::regclass)
    ORDER BY 1`;
  return Object.fromEntries(rows.map((r) => [r.name, r.targets ?? '(default)']));
}

describe("the tables pgparts creates take the parent's statistics targets", () => {
  it('partitions apply creates, shown in its plan first', async () => {
    await t.sql.unsafe(`
      CREATE TABLE ev (id bigint NOT NULL, at timestamptz NOT NULL, payload jsonb, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      CREATE TABLE ev_default PARTITION OF ev DEFAULT;
      ALTER TABLE ev ALTER COLUMN payload SET STATISTICS 1000, ALTER COLUMN id SET STATISTICS 0;`);
    try {
      const wanted = 'id=0,payload=1000';
      // The dry run says it: the plan's create step carries the statement it will run.
      const families = [family(1)];
      const planned = plan(families, await inspect(t.db, families), new Date());
      const creates = planned.steps.filter((s) => s.kind === 'create');
      expect(creates).toHaveLength(2); // this month and the next
      for (const step of creates) {
        expect(step.sql).toContain(
          `ALTER TABLE "public"."${step.partitions[0]}" ALTER COLUMN "id" SET STATISTICS 0, ALTER COLUMN "payload" SET STATISTICS 1000`,
        );
      }
      expect((await apply(t.db, { families: [family(1)] })).failed).toBe(0);
      const made = await targets('ev');
      expect(Object.keys(made)).toHaveLength(4); // parent, DEFAULT, this month, next
      expect(new Set(Object.values(made))).toEqual(new Set([wanted]));
    } finally {
      await t.sql.unsafe('DROP TABLE IF EXISTS ev');
    }
  });

  it("a drain's new partition, by swap (and the new DEFAULT) and by delete (its staging table)", async () => {
    await t.sql.unsafe(`
      CREATE TABLE ev (id bigint NOT NULL, at timestamptz NOT NULL, payload jsonb, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      ALTER TABLE ev ALTER COLUMN payload SET STATISTICS 500;`);
    try {
      expect((await apply(t.db, { families: [family(1)] })).failed).toBe(0);
      // Rows of months 4 and 5 ahead land in DEFAULT. The drains make month 4's partition by
      // swap (which replaces DEFAULT too) and month 5's by delete (through a staging table).
      await t.sql.unsafe(`
        INSERT INTO ev SELECT g, date_trunc('month', now()) + interval '4 months' + g * interval '1 minute',
                              jsonb_build_object('g', g)
        FROM generate_series(1, 500) g;
        INSERT INTO ev SELECT g, date_trunc('month', now()) + interval '5 months' + g * interval '1 minute',
                              jsonb_build_object('g', g)
        FROM generate_series(1, 500) g;`);
      const before = await tableDigest(t.sql, 'ev', ['id', 'at', 'payload']);
      const months = (n: number) => {
        const from = new Date();
        from.setUTCDate(1);
        from.setUTCHours(0, 0, 0, 0);
        from.setUTCMonth(from.getUTCMonth() + n);
        const to = new Date(from);
        to.setUTCMonth(to.getUTCMonth() + 1);
        return { kind: 'range' as const, from, to };
      };
      const swap = await drainKey(t.db, family(1), months(4), { strategy: 'swap' });
      expect(swap).toMatchObject({ status: 'drained', strategy: 'swap', rowsMoved: 500 });
      const del = await drainKey(t.db, family(1), months(5), { strategy: 'delete' });
      expect(del).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 500 });
      expect(await tableDigest(t.sql, 'ev', ['id', 'at', 'payload'])).toEqual(before);
      const made = await targets('ev');
      // The parent, the new DEFAULT, this month, the next, months 4 and 5.
      expect(Object.keys(made)).toHaveLength(6);
      expect(new Set(Object.values(made))).toEqual(new Set(['payload=500']));
    } finally {
      await t.sql.unsafe('DROP TABLE IF EXISTS ev');
    }
  });

  it("a conversion's twin takes the legacy table's targets, and so do its later partitions", async () => {
    const declared = pgTable(
      'conv',
      {
        k: integer('k').notNull(),
        id: bigint('id', { mode: 'number' }).notNull(),
        payload: jsonb('payload'),
      },
      (x) => [primaryKey({ columns: [x.k, x.id] })],
    );
    const listFamily = (values: number[]) =>
      parseFamily({
        name: 'conv',
        tables: ['conv'],
        partitionBy: { strategy: 'list', column: 'k', values },
        defaultPartition: true,
      });
    await t.sql.unsafe(`
      CREATE TABLE conv (k integer NOT NULL, id bigint NOT NULL, payload jsonb, PRIMARY KEY (k, id));
      ALTER TABLE conv ALTER COLUMN payload SET STATISTICS 800;
      INSERT INTO conv SELECT 1 + g % 2, g, jsonb_build_object('g', g) FROM generate_series(1, 400) g;`);
    try {
      const before = await tableDigest(t.sql, 'conv', ['k', 'id', 'payload']);
      const target = conversionTarget({ family: listFamily([1, 2]), tables: [declared] });
      await convertPrep(t.db, target);
      await convertBackfill(t.db, target);
      await convertFill(t.db, target);
      await convertSwap(t.db, target);
      expect(await tableDigest(t.sql, 'conv', ['k', 'id', 'payload'])).toEqual(before);
      // A value declared after the swap: apply makes its partition from the converted parent.
      expect((await apply(t.db, { families: [listFamily([1, 2, 3])] })).failed).toBe(0);
      const made = await targets('conv');
      expect(Object.keys(made)).toHaveLength(5); // the parent, DEFAULT, the partitions of 1, 2, 3
      expect(new Set(Object.values(made))).toEqual(new Set(['payload=800']));
    } finally {
      await t.sql.unsafe('DROP TABLE IF EXISTS conv');
    }
  });
});
