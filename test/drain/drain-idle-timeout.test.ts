import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A database or role may set idle_session_timeout (PostgreSQL 14+) to reap idle connections. A
 * throttled drain's session, which holds the key's lock, sits idle between its batches: the
 * server ended it there, and the drain hung until the test's timeout (postgres.js then wrote to
 * the closed socket). pgparts's sessions turn idle_session_timeout off as they turn off the
 * other timeouts, and give it back at the end.
 */
const family = parseFamily({
  name: 'orders',
  tables: ['orders'],
  partitionBy: { strategy: 'list', column: 'region', values: ['eu', 'zz'] },
  defaultPartition: true,
});

describe('a throttled drain in a database with idle_session_timeout shorter than its pauses', () => {
  it('finishes, every row kept', { timeout: 30_000 }, async () => {
    await t.sql.unsafe(`
      CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, payload text NOT NULL,
        PRIMARY KEY (id, region)) PARTITION BY LIST (region)`);
    const eu = parseFamily({ ...family, partitionBy: { ...family.partitionBy, values: ['eu'] } });
    expect((await apply(t.db, { families: [eu] })).failed).toBe(0);
    await t.sql.unsafe(
      `INSERT INTO orders SELECT g, 'zz', repeat(md5(g::text), 6) FROM generate_series(1, 8000) g`,
    );
    const before = await tableDigest(t.sql, 'orders', ['id', 'region']);
    await t.sql.unsafe(`ALTER DATABASE "${t.name}" SET idle_session_timeout = '150ms'`);
    const client = t.connect({ max: 2 });
    const [setting] = await client<{ v: string }[]>`
      SELECT current_setting('idle_session_timeout') AS v`;
    expect(setting?.v).toBe('150ms');
    const result = await drainKey(
      drizzle(client),
      family,
      { kind: 'list', value: 'zz' },
      { batchPages: 40, throttleMs: 300 },
    );
    expect(result.status).toBe('drained');
    await t.sql.unsafe(`ALTER DATABASE "${t.name}" RESET idle_session_timeout`);
    expect(await tableDigest(t.sql, 'orders', ['id', 'region'])).toEqual(before);
    const [left] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM orders_default`;
    expect(left?.n).toBe(0);
  });
});
