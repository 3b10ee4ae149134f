import { expect } from 'vitest';
import { type FamilySpec, parseFamily } from '../../src/define/spec.js';
import { apply } from '../../src/run/apply.js';
import type { TestDatabase } from '../support/test-database.js';

/**
 * The orders table of a LIST family by region, and a plain `ledger` table that every write of
 * the test also goes to, in the same statement: after a drain the two must match in count and
 * checksum. Only the family's first value ('eu') gets a partition; `rows` rows spread over all its
 * values, so the others land in DEFAULT.
 */
export async function ordersWithLedger(
  t: TestDatabase,
  family: FamilySpec,
  rows: number,
): Promise<void> {
  if (family.partitionBy.strategy !== 'list') throw new Error('a LIST family');
  const values = family.partitionBy.values ?? [];
  await t.sql.unsafe(`
    CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, payload text NOT NULL,
      PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE ledger (id bigint NOT NULL, region text NOT NULL, payload text NOT NULL,
      PRIMARY KEY (id, region));`);
  const first = parseFamily({
    ...family,
    partitionBy: { ...family.partitionBy, values: values.slice(0, 1) },
  });
  expect((await apply(t.db, { families: [first] })).failed).toBe(0);
  await t.sql.unsafe(
    `WITH w AS (INSERT INTO orders SELECT g, ($1::text[])[1 + g % cardinality($1::text[])], md5(g::text)
                FROM generate_series(1, $2::int) g RETURNING *)
     INSERT INTO ledger SELECT * FROM w`,
    [values.map(String), rows],
  );
}
