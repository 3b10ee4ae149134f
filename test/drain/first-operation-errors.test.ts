import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { familyMigrationSql } from '../../src/sql/partition-ddl.js';
import { errorResponses } from '../support/protocol-relay.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A keyed operation (drain, retire, reattach) reads its family's operations records right
 * behind the statement that takes the key's lock, without waiting for its reply. Sent in a
 * schema whose records table does not exist yet (its first such operation), that read failed:
 * harmless to the operation, but the server logged an ERROR for it, in a log an operator may
 * watch for errors. The server's error replies are counted at the socket, on a relay between
 * the client and the server.
 */
const family = parseFamily({
  name: 'orders',
  tables: ['orders'],
  partitionBy: { strategy: 'list', column: 'region', values: ['eu', 'us', 'ap'] },
  defaultPartition: true,
});

it("a schema's first drain, and the next, send nothing the server refuses", async () => {
  // Partitions made by the app's migrations (what `pgparts generate` writes), rows in DEFAULT,
  // and no pgparts operation in the schema yet.
  await t.sql.unsafe(`
    CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, payload text NOT NULL,
      PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE ledger (id bigint NOT NULL, region text NOT NULL, payload text NOT NULL,
      PRIMARY KEY (id, region));`);
  const first = parseFamily({ ...family, partitionBy: { ...family.partitionBy, values: ['eu'] } });
  for (const statement of familyMigrationSql(first)) await t.sql.unsafe(statement);
  await t.sql.unsafe(
    `WITH w AS (INSERT INTO orders SELECT g, (ARRAY['eu', 'us', 'ap'])[1 + g % 3], md5(g::text)
                FROM generate_series(1, 3000) g RETURNING *)
     INSERT INTO ledger SELECT * FROM w`,
  );
  const [before] = await t.sql<{ t: string | null }[]>`
    SELECT to_regclass('public.pgparts_operations')::text AS t`;
  expect(before?.t).toBeNull();
  const relay = await errorResponses(t.url);
  const client = postgres(relay.url, { max: 4, onnotice: () => {} });
  try {
    const db = drizzle(client);
    const us = await drainKey(db, family, { kind: 'list', value: 'us' });
    expect(us.status).toBe('drained');
    expect(us.rowsMoved).toBe(1_000);
    // The table exists now, and this process has seen it: the next drain reads ahead.
    const ap = await drainKey(db, family, { kind: 'list', value: 'ap' });
    expect(ap.status).toBe('drained');
    expect(ap.rowsMoved).toBe(1_000);
    expect(relay.errors).toEqual([]);
  } finally {
    await client.end();
    await relay.close();
  }
  const orders = await tableDigest(t.sql, 'orders', ['id', 'region']);
  expect(orders).toEqual(await tableDigest(t.sql, 'ledger', ['id', 'region']));
  expect(orders.rows).toBe(3_000);
});
