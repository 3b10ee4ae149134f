import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';
import { ap, orders, useOrdersOwner } from './orders-owner.js';

const t = useTestDatabase({ migrated: false });
const owner = useOrdersOwner(t, 'pgparts_drainer');

/**
 * A drain by delete removes the moved rows from DEFAULT before their partition is attached. A
 * table outside the family that references it ON DELETE CASCADE would lose every row pointing at
 * them, unless the delete runs with session_replication_role = replica. A role that may not set
 * it gets a refusal before anything is written, not a drain that deletes the referencing rows.
 */
const state = async () => ({
  orders: await tableDigest(t.sql, 'orders', ['id']),
  refunds: await tableDigest(t.sql, 'refunds', ['id']),
  notes: await tableDigest(t.sql, 'notes', ['id']),
});

beforeAll(async () => {
  // Rows of 'ap' were written before the spec declared it: they are in DEFAULT.
  await owner.sql.unsafe(`
    CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, PRIMARY KEY (region, id))
      PARTITION BY LIST (region);
    CREATE TABLE orders_default PARTITION OF orders DEFAULT;
    CREATE TABLE refunds (id bigint PRIMARY KEY, region text NOT NULL, order_id bigint NOT NULL,
      FOREIGN KEY (region, order_id) REFERENCES orders ON DELETE CASCADE);
    CREATE TABLE notes (id bigint PRIMARY KEY, region text, order_id bigint,
      FOREIGN KEY (region, order_id) REFERENCES orders ON DELETE SET NULL);
    INSERT INTO orders SELECT g, (ARRAY['eu', 'ap'])[g % 2 + 1] FROM generate_series(1, 1000) g;
    INSERT INTO refunds SELECT id, region, id FROM orders;
    INSERT INTO notes SELECT id, region, id FROM orders;`);
});

describe('a drain by delete, referenced from outside the family with ON DELETE actions', () => {
  it('is refused, dry run and run, naming the keys and the grant, when the role cannot skip triggers', async () => {
    const db = drizzle(owner.sql);
    const before = await state();
    const attempts = [
      () => drainDryRun(db, orders, ap),
      () => drainKey(db, orders, ap),
      () => drainKey(db, orders, ap, { strategy: 'delete' }),
    ];
    for (const attempt of attempts) {
      expectPgpartsError(await rejection(attempt()), 'refused', {
        message:
          /public\.notes\.notes_region_order_id_fkey \(ON DELETE SET NULL\) to orders, public\.refunds\.refunds_region_order_id_fkey \(ON DELETE CASCADE\) to orders.*nothing was changed: (let the role set it \(GRANT SET ON PARAMETER session_replication_role|drain as a superuser)/s,
      });
    }
    const applied = await apply(db, { families: [orders] });
    // Both declared values are in DEFAULT: each drain fails alike.
    expect(applied.results.map((r) => [r.step.kind, r.step.label, r.outcome])).toEqual([
      ['drain', 'ap', 'failed'],
      ['drain', 'eu', 'failed'],
    ]);
    for (const r of applied.results) {
      expect(r.message).toMatch(/ON DELETE CASCADE.*nothing was changed/s);
    }
    expect(await state()).toEqual(before);
  });

  it('moves every row and keeps every referencing row once the role may set session_replication_role', async (ctx) => {
    const [version] = await t.sql<{ v: number }[]>`
      SELECT current_setting('server_version_num')::int AS v`;
    if ((version?.v ?? 0) < 150000) ctx.skip();
    await t.sql.unsafe(`GRANT SET ON PARAMETER session_replication_role TO ${owner.role}`);
    const before = await state();
    const result = await drainKey(drizzle(owner.sql), orders, ap);
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 500 });
    expect(await state()).toEqual(before);
    const [placed] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM orders
      WHERE region = 'ap' AND tableoid <> 'orders_default'::regclass`;
    expect(placed?.n).toBe(500);
  });
});
