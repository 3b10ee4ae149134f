import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A retire detaches the referencing table's partition first. Cut short after that detach, the
 * detached partition's foreign key still points into the referenced table, from a table no
 * longer attached to the family: the preflight took it for a table outside the family and
 * refused every later retire, apply and reattach of the key. It is the key's own partition, and
 * the retire goes on.
 */
const family = parseFamily({
  name: 'orders',
  tables: ['orders', 'items'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0, past: 2 },
});
const jan = {
  kind: 'range',
  from: new Date('2026-01-01T00:00:00Z'),
  to: new Date('2026-02-01T00:00:00Z'),
} as const;

describe('a retire cut short after detaching the referencing partition', () => {
  it('is finished by the next retire; every other row stays', async () => {
    await t.sql.unsafe(`
      CREATE TABLE orders (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      CREATE TABLE items (id bigint NOT NULL, order_id bigint NOT NULL, at timestamptz NOT NULL,
        PRIMARY KEY (id, at), FOREIGN KEY (order_id, at) REFERENCES orders (id, at))
        PARTITION BY RANGE (at);`);
    const now = new Date('2026-03-15T00:00:00Z');
    expect((await apply(t.db, { families: [family], now })).failed).toBe(0);
    await t.sql.unsafe(`
      INSERT INTO orders SELECT g, timestamptz '2026-01-01' + g * interval '12 hours' FROM generate_series(1, 150) g;
      INSERT INTO items SELECT id, id, at FROM orders;`);
    const kept = async () => ({
      orders: await tableDigest(t.sql, 'orders', ['id'], "at >= '2026-02-01'"),
      items: await tableDigest(t.sql, 'items', ['id'], "at >= '2026-02-01'"),
    });
    const before = await kept();
    // Where the cut-short retire stopped: the referencing partition detached, the other not.
    await t.sql.unsafe('ALTER TABLE items DETACH PARTITION items_2026_01');
    const result = await retireKey(t.db, family, jan, { force: true });
    expect(result.status).toBe('retired');
    const [gone] = await t.sql<{ orders: boolean; items: boolean }[]>`
      SELECT to_regclass('orders_2026_01') IS NULL AS orders, to_regclass('items_2026_01') IS NULL AS items`;
    expect(gone).toEqual({ orders: true, items: true });
    expect(await kept()).toEqual(before);
  });
});
