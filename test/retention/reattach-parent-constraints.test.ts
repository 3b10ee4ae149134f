import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { reattachDryRun, reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { month2026 as month } from '../support/month-key.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Orders and their items, monthly with DEFAULT; January and February archived, then the parents
 * change as an app's migrations change them (a column made NOT NULL, a CHECK added), and a late
 * order of an archived month lands in DEFAULT. A reattach must either bring every table of the
 * key back, or change nothing and leave the key free.
 */
const family = parseFamily({
  name: 'shop',
  tables: ['shop_orders', 'shop_items'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0, past: 2 },
  defaultPartition: true,
  retention: { keep: 12, mode: 'archive' },
});

/** Both tables' rows of a month, wherever they are, over the columns they were archived with. */
async function digests(m: number, where: 'pgparts_archive' | 'public') {
  const name = (table: string) => `${where}.${table}_2026_0${m}`;
  return {
    orders: await tableDigest(t.sql, name('shop_orders'), ['id']),
    items: await tableDigest(t.sql, name('shop_items'), ['id']),
  };
}

const archived = async (m: number) =>
  (
    await t.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'pgparts_archive' AND c.relname LIKE ${`%_2026_0${m}`} ORDER BY 1`
  ).map((r) => r.name);

const operations = async () =>
  (await t.sql<{ key: string }[]>`SELECT key FROM pgparts_operations`).map((r) => r.key);

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE shop_orders (id bigint NOT NULL, at timestamptz NOT NULL, total int,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE shop_items (id bigint NOT NULL, order_id bigint NOT NULL, at timestamptz NOT NULL,
      note text, PRIMARY KEY (id, at),
      FOREIGN KEY (order_id, at) REFERENCES shop_orders (id, at) MATCH FULL ON DELETE CASCADE
        DEFERRABLE INITIALLY DEFERRED)
      PARTITION BY RANGE (at);`);
  expect((await apply(t.db, { families: [family], now: new Date('2026-03-15Z') })).ok).toBe(true);
  // February's items: every tenth has no note.
  await t.sql.unsafe(`
    INSERT INTO shop_orders SELECT g, timestamptz '2026-01-01Z' + (g % 58) * interval '1 day', g % 90
      FROM generate_series(1, 600) g;
    INSERT INTO shop_items SELECT o.id * 2 + k, o.id, o.at,
      CASE WHEN o.at >= '2026-02-01Z' AND o.id % 10 = 0 THEN NULL ELSE 'n' END
      FROM shop_orders o, generate_series(0, 1) k;`);
  for (const m of [1, 2]) {
    expect((await retireKey(t.db, family, month(m), { mode: 'archive' })).status).toBe('retired');
  }
  // The app's migrations since: notes made NOT NULL (live rows filled first), totals checked.
  await t.sql.unsafe(`
    UPDATE shop_items SET note = 'n' WHERE note IS NULL;
    ALTER TABLE shop_items ALTER COLUMN note SET NOT NULL;
    ALTER TABLE shop_orders ADD CONSTRAINT shop_orders_total_check CHECK (total >= 0);`);
});

describe('the archive', () => {
  it("keeps the family key's actions between the archived tables", async () => {
    const keys = await t.sql<{ def: string }[]>`
      SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE conrelid = 'pgparts_archive.shop_items_2026_02'::regclass AND contype = 'f'`;
    expect(keys.map((k) => k.def)).toEqual([
      'FOREIGN KEY (order_id, at) REFERENCES pgparts_archive.shop_orders_2026_02(id, at) MATCH FULL ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED',
    ]);
  });
});

describe('reattach after the parents gained a NOT NULL and a CHECK', () => {
  it('gives the archived tables both, and brings every table of the key back', async () => {
    const before = await digests(1, 'pgparts_archive');
    const preview = await reattachDryRun(t.db, family, month(1));
    expect(preview.units.flatMap((u) => u.statements)).toEqual(
      expect.arrayContaining([
        'ALTER TABLE "pgparts_archive"."shop_orders_2026_01" ADD CONSTRAINT "shop_orders_total_check" CHECK ((total >= 0))',
        'ALTER TABLE "pgparts_archive"."shop_items_2026_01" ALTER COLUMN "note" SET NOT NULL',
      ]),
    );
    const back = await reattachKey(t.db, family, month(1));
    expect(back.partitions.map((p) => p.partition)).toEqual([
      'shop_orders_2026_01',
      'shop_items_2026_01',
    ]);
    expect(await digests(1, 'public')).toEqual(before);
    expect(await archived(1)).toEqual([]);
  });

  it('refuses archived rows with no value for the NOT NULL column before any change: no table back, the key free', async () => {
    const before = await digests(2, 'pgparts_archive');
    const [nulls] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_archive.shop_items_2026_02 WHERE note IS NULL`;
    expect(nulls?.n).toBeGreaterThan(0);
    const refused = new RegExp(
      `shop_items_2026_02 cannot be attached[\\s\\S]*"note" is NOT NULL on the parent, and ${nulls?.n} archived row\\(s\\) have no value`,
    );
    expectPgpartsError(await rejection(reattachDryRun(t.db, family, month(2))), 'invalid-input', {
      message: refused,
    });
    expectPgpartsError(await rejection(reattachKey(t.db, family, month(2))), 'invalid-input', {
      message: refused,
    });
    expect(await archived(2)).toEqual(['shop_items_2026_02', 'shop_orders_2026_02']);
    expect(await digests(2, 'pgparts_archive')).toEqual(before);
    expect(await operations()).toEqual([]);
  });
});

describe('reattach while rows of the key are in DEFAULT', () => {
  it('refuses before any change, naming them; once they are gone it brings the key back', async () => {
    await t.sql.unsafe(
      `UPDATE pgparts_archive.shop_items_2026_02 SET note = 'late fill' WHERE note IS NULL`,
    );
    const before = await digests(2, 'pgparts_archive');
    // A late order of February, with an item: no February partition, so DEFAULT takes both.
    await t.sql.unsafe(`
      INSERT INTO shop_orders VALUES (9001, '2026-02-20Z', 5);
      INSERT INTO shop_items VALUES (90010, 9001, '2026-02-20Z', 'late');`);
    const refused =
      /rows of the key were written after it was archived and are in DEFAULT \(public\.shop_orders_default: 1 row\(s\), public\.shop_items_default: 1 row\(s\)\)[\s\S]*nothing was changed/;
    expectPgpartsError(await rejection(reattachDryRun(t.db, family, month(2))), 'refused', {
      message: refused,
    });
    expectPgpartsError(await rejection(reattachKey(t.db, family, month(2))), 'refused', {
      message: refused,
    });
    expect(await archived(2)).toEqual(['shop_items_2026_02', 'shop_orders_2026_02']);
    expect(await operations()).toEqual([]);

    // The way out the message gives: into the archived tables (orders first), out of DEFAULT.
    await t.sql.begin(async (tx) => {
      await tx.unsafe(`
        INSERT INTO pgparts_archive.shop_orders_2026_02 SELECT * FROM shop_orders_default WHERE id = 9001;
        INSERT INTO pgparts_archive.shop_items_2026_02 SELECT * FROM shop_items_default WHERE id = 90010;
        DELETE FROM shop_items_default WHERE id = 90010;
        DELETE FROM shop_orders_default WHERE id = 9001;`);
    });
    const back = await reattachKey(t.db, family, month(2));
    expect(back.partitions.map((p) => p.rows)).toEqual([
      before.orders.rows + 1,
      before.items.rows + 1,
    ]);
  });
});
