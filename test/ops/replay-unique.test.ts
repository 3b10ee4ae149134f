import { bigint, integer, pgTable, primaryKey, text, unique } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { convertBackfill } from '../../src/ops/convert/backfill.js';
import { convertFill } from '../../src/ops/convert/fill.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A table with a second unique key besides its primary key. A row whose primary key changes, or
 * a row deleted and another inserted with its value of the second key, is replayed as the old
 * key removed and the new one written. In one statement, the write could run before the removal
 * and meet the old row still holding the value: the replay failed on every retry (duplicate
 * key), and the conversion could go neither forward nor back. The removal now runs first. (The
 * drain, which shares the replay, held before too, by the order the server happened to take; it
 * stays here as a guard.)
 */
const changes = (table: string, a: number, b: number, tenant: number) => `
  UPDATE ${table} SET id = ${900000 + a} WHERE id = ${a};
  DELETE FROM ${table} WHERE id = ${b};
  INSERT INTO ${table} VALUES (${900000 + b}, ${tenant}, 'ref-${b}');`;

describe('a replay of key changes on a table with a second unique key', () => {
  it('a conversion fills them', async () => {
    await t.sql.unsafe(`
      CREATE TABLE orders (id bigint NOT NULL, tenant int NOT NULL, ref text NOT NULL,
        PRIMARY KEY (id, tenant), UNIQUE (tenant, ref));
      INSERT INTO orders SELECT g, 1 + g % 2, 'ref-' || g FROM generate_series(1, 400) g;`);
    const orders = pgTable(
      'orders',
      {
        id: bigint('id', { mode: 'number' }).notNull(),
        tenant: integer('tenant').notNull(),
        ref: text('ref').notNull(),
      },
      (x) => [primaryKey({ columns: [x.id, x.tenant] }), unique().on(x.tenant, x.ref)],
    );
    const family = parseFamily({
      name: 'orders',
      tables: ['orders'],
      partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2] },
    });
    const target = conversionTarget({ family, tables: [orders] });
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    await t.sql.unsafe(changes('orders', 2, 4, 1));
    await convertFill(t.db, target);
    expect(await tableDigest(t.sql, 'pgparts_orders_new.orders', ['id', 'tenant'])).toEqual(
      await tableDigest(t.sql, 'orders', ['id', 'tenant']),
    );
  });

  it('a drain moves them', async () => {
    await t.sql.unsafe(`
      CREATE TABLE docs (id bigint NOT NULL, tenant int NOT NULL, ref text NOT NULL,
        PRIMARY KEY (id, tenant), UNIQUE (tenant, ref)) PARTITION BY LIST (tenant);`);
    const one = parseFamily({
      name: 'docs',
      tables: ['docs'],
      partitionBy: { strategy: 'list', column: 'tenant', values: [1] },
      defaultPartition: true,
    });
    expect((await apply(t.db, { families: [one] })).failed).toBe(0);
    await t.sql.unsafe(
      `INSERT INTO docs SELECT g, 1 + g % 2, 'ref-' || g FROM generate_series(1, 2000) g`,
    );
    // A plain copy that gets the same changes: what the partitioned table must hold after.
    await t.sql.unsafe('CREATE TABLE docs_mirror AS SELECT * FROM docs');
    const two = parseFamily({ ...one, partitionBy: { ...one.partitionBy, values: [1, 2] } });
    let changed = false;
    // Rows of tenant 2 (odd ids) are in DEFAULT: they change while the drain copies them.
    const result = await drainKey(
      t.db,
      two,
      { kind: 'list', value: 2 },
      {
        batchPages: 1,
        sideBySide: false,
        onProgress: async (progress) => {
          if (progress.phase !== 'copy' || changed) return;
          changed = true;
          await t.sql.unsafe(changes('docs', 3, 5, 2));
          await t.sql.unsafe(changes('docs_mirror', 3, 5, 2));
        },
      },
    );
    expect(changed).toBe(true);
    expect(result.status).toBe('drained');
    const [moved] = await t.sql<{ ids: string; n: number; left: number }[]>`
      SELECT string_agg(id::text, ',' ORDER BY id) FILTER (WHERE id IN (3, 5, 900003, 900005)) AS ids,
             count(*)::int AS n, (SELECT count(*)::int FROM docs_default) AS left
      FROM docs WHERE tenant = 2 AND tableoid <> 'docs_default'::regclass`;
    expect(moved).toEqual({ ids: '900003,900005', n: 1000, left: 0 });
    expect(await tableDigest(t.sql, 'docs', ['id', 'tenant'])).toEqual(
      await tableDigest(t.sql, 'docs_mirror', ['id', 'tenant']),
    );
  });
});
