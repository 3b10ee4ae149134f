import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { textLiteral } from '../../src/sql/literals.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Text pgparts writes into its SQL as a literal (a LIST value, read from `valuesFrom` too, in a
 * partition bound) doubled its quotes only. With standard_conforming_strings off (a legacy
 * database's setting) a backslash in '...' escapes what follows: a value ending in one ended the
 * literal early, the DDL failed, and a crafted value could change the statement. A value with a
 * backslash is now written as an escape string, read back the same under either setting.
 */
/** The test database set to standard_conforming_strings off, and a client of it that is. */
async function legacyStringsConnection(max: number) {
  await t.sql.unsafe(`ALTER DATABASE "${t.name}" SET standard_conforming_strings = off`);
  await t.sql.unsafe(`ALTER DATABASE "${t.name}" SET escape_string_warning = off`);
  const conn = t.connect({ max });
  const [scs] = await conn<
    { v: string }[]
  >`SELECT current_setting('standard_conforming_strings') AS v`;
  expect(scs?.v).toBe('off');
  return conn;
}

const VALUES = ['plain', "it's", 'a\\b', 'end\\', "\\'); SELECT 1; --", 'two\\\\'];

describe('text literals', () => {
  it('read back as written, with standard_conforming_strings on and off', async () => {
    const conn = t.connect({ max: 1 });
    for (const setting of ['on', 'off']) {
      await conn.unsafe(`SET standard_conforming_strings = ${setting}`);
      await conn.unsafe('SET escape_string_warning = off');
      for (const value of VALUES) {
        const [row] = await conn.unsafe<{ v: string }[]>(`SELECT ${textLiteral(value)} AS v`);
        expect(row?.v, `${setting}: ${value}`).toBe(value);
      }
    }
  });

  it('a LIST value ending in a backslash, read from valuesFrom, gets its partition in such a database', async () => {
    const db = await legacyStringsConnection(2);
    await db.unsafe(`
      CREATE TABLE tenants (code text PRIMARY KEY);
      CREATE TABLE tenant_events (id bigint NOT NULL, code text NOT NULL, PRIMARY KEY (id, code))
        PARTITION BY LIST (code);`);
    await db`INSERT INTO tenants VALUES (${'end\\'}), (${'plain'})`;
    const family = parseFamily({
      name: 'tenant_events',
      tables: ['tenant_events'],
      partitionBy: {
        strategy: 'list',
        column: 'code',
        valueType: 'text',
        valuesFrom: { table: 'tenants', column: 'code' },
        naming: '{table}_{value}',
      },
      defaultPartition: true,
    });
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const run = await apply(drizzle(db), { families: [family] });
    expect(run.results.filter((r) => r.outcome !== 'done')).toEqual([]);
    await db`INSERT INTO tenant_events VALUES (1, ${'end\\'}), (2, ${'plain'})`;
    const rows = await db<{ partition: string; code: string }[]>`
      SELECT tableoid::regclass::text AS partition, code FROM tenant_events ORDER BY id`;
    expect(rows.map((r) => r.code)).toEqual(['end\\', 'plain']);
    expect(rows.every((r) => !r.partition.endsWith('_default'))).toBe(true);
  });
});

describe('in a database with standard_conforming_strings off', () => {
  /**
   * The server writes a string in catalog text (a partition's bound) by that setting: off, each
   * backslash doubled and no E''. pgparts read 'a\b' back as a\\b: the partition it had made was
   * someone else's, its own was missing, and every run failed to create it again.
   */
  it('LIST values with backslashes: planned once, drained and retired', async () => {
    const conn = await legacyStringsConnection(4);
    await conn.unsafe(`
      CREATE TABLE codes (id bigint NOT NULL, code text NOT NULL, PRIMARY KEY (id, code))
        PARTITION BY LIST (code);`);
    const declared = (values: string[]) =>
      parseFamily({
        name: 'codes',
        tables: ['codes'],
        partitionBy: { strategy: 'list', column: 'code', valueType: 'text', values },
        defaultPartition: true,
      });
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const db = drizzle(conn);
    const family = declared(['a\\b', 'end\\', "it's"]);
    const first = await apply(db, { families: [family] });
    expect(first.results.map((r) => r.outcome)).toEqual(['done', 'done', 'done', 'done']);
    const again = await apply(db, { families: [family] });
    expect(again.plan?.steps).toEqual([]);
    const snapshot = await inspect(db, [family]);
    expect(snapshot.families[0]?.anomalies).toEqual([]);
    const partitions = snapshot.families[0]?.tables[0]?.partitions ?? [];
    const named = (value: string) =>
      partitions.find((p) => p.key?.kind === 'list' && p.key.value === value)?.name;
    expect(named('a\\b')).toBeDefined();
    expect(named('end\\')).toBeDefined();

    // Rows of a value not declared yet wait in DEFAULT, then move to its partition.
    await conn`INSERT INTO codes SELECT g, ${'x\\y'} FROM generate_series(1, 50) g`;
    const drained = await drainKey(db, declared(['a\\b', 'end\\', "it's", 'x\\y']), {
      kind: 'list',
      value: 'x\\y',
    });
    expect(drained.rowsMoved).toBe(50);
    const placed = await conn<{ bound: string; n: number }[]>`
      SELECT pg_get_expr(c.relpartbound, 0) AS bound, count(*)::int AS n
      FROM codes JOIN pg_class c ON c.oid = codes.tableoid GROUP BY 1`;
    expect(placed).toEqual([{ bound: "FOR VALUES IN ('x\\\\y')", n: 50 }]);

    // A value taken out of the spec: its partition goes.
    const retired = await retireKey(
      db,
      declared(['end\\', "it's", 'x\\y']),
      { kind: 'list', value: 'a\\b' },
      { mode: 'drop' },
    );
    expect(retired.status).toBe('retired');
    expect(retired.partitions.map((p) => p.partition)).toEqual([named('a\\b')]);
  });
});
