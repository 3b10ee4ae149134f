import { bigint, integer, pgTable, primaryKey, timestamp } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Converting an app's own table whose Drizzle declaration gives a column another type than the
 * legacy table has: the fill would copy every value into the declared type (numeric(12,2) into
 * integer: 1.40 became 1; timestamptz into timestamp: the zone gone) and the swap would serve
 * them. Prep refuses, naming each column, before anything is created.
 */
describe('convert prep with column types that differ from the legacy table', () => {
  it('is refused, naming each column and both types; nothing is created, no row changes', async () => {
    await t.sql.unsafe(`
      CREATE TABLE pay (id bigint NOT NULL, tenant int NOT NULL, amount numeric(12,2),
        paid_at timestamptz NOT NULL, PRIMARY KEY (id, tenant));
      INSERT INTO pay SELECT g, 1 + g % 2, g + 0.40, timestamptz '2026-01-01 12:00:00+05' FROM generate_series(1, 20) g;`);
    const pay = pgTable(
      'pay',
      {
        id: bigint('id', { mode: 'number' }).notNull(),
        tenant: integer('tenant').notNull(),
        amount: integer('amount'),
        paidAt: timestamp('paid_at').notNull(),
      },
      (x) => [primaryKey({ columns: [x.id, x.tenant] })],
    );
    const family = parseFamily({
      name: 'pay',
      tables: ['pay'],
      partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2] },
    });
    const before = await tableDigest(t.sql, 'pay', ['id', 'tenant']);
    const schemas = () =>
      t.sql<
        { n: string }[]
      >`SELECT nspname AS n FROM pg_namespace WHERE nspname LIKE 'pgparts%' ORDER BY 1`;
    const schemasBefore = await schemas();
    expectPgpartsError(
      await rejection(convertPrep(t.db, conversionTarget({ family, tables: [pay] }))),
      'spec-mismatch',
      {
        message:
          /public\.pay\.amount is numeric\(12,2\); the Drizzle table declares integer; public\.pay\.paid_at is timestamp with time zone; the Drizzle table declares timestamp without time zone/,
      },
    );
    expect(await tableDigest(t.sql, 'pay', ['id', 'tenant'])).toEqual(before);
    expect(await schemas()).toEqual(schemasBefore);
    const [twin] = await t.sql<
      { t: string | null }[]
    >`SELECT to_regclass('pgparts_pay_new.pay')::text AS t`;
    expect(twin?.t).toBeNull();
  });
});
