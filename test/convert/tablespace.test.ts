import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { convertBackfill } from '../../src/ops/convert/backfill.js';
import { convertFill } from '../../src/ops/convert/fill.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { convertSwap } from '../../src/ops/convert/swap.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { apply } from '../../src/run/apply.js';
import { inPlaceTablespace } from '../support/in-place-tablespace.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A legacy table in a tablespace of its own (the disk the app chose for its rows). The twin a
 * conversion makes was created without one, so its partitions, and every partition pgparts
 * made after the swap, went to the database's default tablespace: the conversion moved every
 * row to the other disk. The twin now takes the legacy table's tablespace.
 */
const family = (values: number[]) =>
  parseFamily({
    name: 'spaced',
    tables: ['spaced'],
    partitionBy: { strategy: 'list', column: 'k', values },
    defaultPartition: true,
  });

const declared = pgTable(
  'spaced',
  {
    k: integer('k').notNull(),
    id: bigint('id', { mode: 'number' }).notNull(),
    v: text('v'),
  },
  (x) => [primaryKey({ columns: [x.k, x.id] })],
);

it("a converted table's partitions stay in the legacy table's tablespace", async (context) => {
  const { space, admin } = await inPlaceTablespace(t, context, 'rows');
  try {
    await t.sql.unsafe(`
      CREATE TABLE spaced (k integer NOT NULL, id bigint NOT NULL, v text, PRIMARY KEY (k, id))
        TABLESPACE "${space}";
      INSERT INTO spaced SELECT 1 + g % 2, g, 'v' || g FROM generate_series(1, 400) g;`);
    const before = await tableDigest(t.sql, 'spaced', ['k', 'id']);
    const target = conversionTarget({ family: family([1, 2]), tables: [declared] });
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    await convertSwap(t.db, target);
    expect(await tableDigest(t.sql, 'spaced', ['k', 'id'])).toEqual(before);
    // A value declared after the swap: apply makes its partition.
    expect((await apply(t.db, { families: [family([1, 2, 3])] })).failed).toBe(0);
    const placed = await t.sql<{ name: string; kind: string; ts: string }[]>`
      SELECT c.relname AS name, c.relkind::text AS kind, coalesce(s.spcname, '(default)') AS ts
      FROM pg_class c LEFT JOIN pg_tablespace s ON s.oid = c.reltablespace
      WHERE c.oid = 'spaced'::regclass
         OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'spaced'::regclass)
      ORDER BY 1`;
    // The parent (partitioned), DEFAULT and the partitions of 1, 2 and 3.
    expect(placed).toHaveLength(5);
    expect(placed.find((p) => p.name === 'spaced')?.kind).toBe('p');
    expect(placed.filter((p) => p.ts !== space)).toEqual([]);
  } finally {
    // The tablespace is the server's: emptied of this test's tables (the kept legacy table
    // included; a parent takes its partitions), then dropped.
    const tables = await t.sql<{ q: string }[]>`
      SELECT format('%I.%I', n.nspname, c.relname) AS q FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND c.reltablespace = (SELECT oid FROM pg_tablespace WHERE spcname = ${space})`;
    for (const { q } of tables) await t.sql.unsafe(`DROP TABLE IF EXISTS ${q}`);
    await admin.unsafe(`DROP TABLESPACE IF EXISTS "${space}"`);
  }
});
