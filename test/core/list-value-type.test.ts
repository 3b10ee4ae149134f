import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { partitionFamily } from '../../src/define/spec.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A LIST family whose values come from a table (`valuesFrom`) says nothing of their type: declared
 * from Drizzle tables, it takes the key column's (a text column: text values), where it took
 * integer and a text key was refused unless `valueType: 'text'` was given.
 */
const orders = pgTable(
  'orders',
  { id: bigint('id', { mode: 'number' }).notNull(), region: text('region').notNull() },
  (x) => [primaryKey({ columns: [x.id, x.region] })],
);
const shards = pgTable(
  'shard_rows',
  { id: bigint('id', { mode: 'number' }).notNull(), shard: integer('shard').notNull() },
  (x) => [primaryKey({ columns: [x.id, x.shard] })],
);

describe('a valuesFrom LIST family declared from its Drizzle table', () => {
  it("takes a text column's values as text, and apply makes their partitions", async () => {
    const family = partitionFamily({
      name: 'orders',
      tables: [orders],
      partitionBy: {
        strategy: 'list',
        column: 'region',
        valuesFrom: { table: 'regions', column: 'code' },
      },
    });
    expect(family.partitionBy).toMatchObject({ strategy: 'list', valueType: 'text' });
    await t.sql.unsafe(`
      CREATE TABLE regions (code text PRIMARY KEY);
      INSERT INTO regions VALUES ('eu'), ('us');
      CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, PRIMARY KEY (id, region))
        PARTITION BY LIST (region);`);
    const result = await apply(t.db, { families: [family] });
    expect(result.failed).toBe(0);
    const bounds = await t.sql<{ bound: string }[]>`
      SELECT pg_get_expr(c.relpartbound, c.oid) AS bound
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'orders'::regclass ORDER BY 1`;
    expect(bounds.map((b) => b.bound)).toEqual(["FOR VALUES IN ('eu')", "FOR VALUES IN ('us')"]);
  });

  it("keeps an integer column's values integer, and a declared valueType as given", () => {
    const integerValues = partitionFamily({
      name: 'shards',
      tables: [shards],
      partitionBy: { strategy: 'list', column: 'shard', valuesFrom: { table: 's', column: 'id' } },
    });
    expect(integerValues.partitionBy).toMatchObject({ valueType: 'integer' });
    const declared = partitionFamily({
      name: 'orders',
      tables: [orders],
      partitionBy: {
        strategy: 'list',
        column: 'region',
        valueType: 'integer',
        valuesFrom: { table: 'regions', column: 'code' },
      },
    });
    expect(declared.partitionBy).toMatchObject({ valueType: 'integer' });
  });
});
