import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
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
    await t.sql.unsafe(`ALTER DATABASE "${t.name}" SET standard_conforming_strings = off`);
    await t.sql.unsafe(`ALTER DATABASE "${t.name}" SET escape_string_warning = off`);
    const db = t.connect({ max: 2 });
    const [scs] = await db<
      { v: string }[]
    >`SELECT current_setting('standard_conforming_strings') AS v`;
    expect(scs?.v).toBe('off');
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
