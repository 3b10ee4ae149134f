import { randomBytes } from 'node:crypto';
import type postgres from 'postgres';
import { afterAll, beforeAll } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import type { TestDatabase } from '../support/test-database.js';

/**
 * What the tests of a drain by delete run by an app's own role share: the `orders` family (LIST
 * by region, 'ap' to drain, a DEFAULT the app makes) and a login role that is no superuser, so
 * it may not set session_replication_role until granted (PostgreSQL 15+), and owns what it
 * creates in public.
 */
export const orders = parseFamily({
  name: 'orders',
  schema: 'public',
  tables: ['orders'],
  partitionBy: { strategy: 'list', column: 'region', values: ['eu', 'ap'] },
  defaultPartition: true,
});
export const ap = { kind: 'list', value: 'ap' } as const;

export interface OrdersOwner {
  /** The role's name, for GRANTs. */
  role: string;
  /** Its connections, open from the file's first beforeAll to its end. */
  sql: postgres.Sql;
}

/** Creates the role before the file's other hooks (call at the top of the file) and connects it. */
export function useOrdersOwner(t: TestDatabase, prefix: string): OrdersOwner {
  const owner = { role: `${prefix}_${randomBytes(4).toString('hex')}` } as OrdersOwner;
  beforeAll(async () => {
    await t.sql.unsafe(`
      CREATE ROLE ${owner.role} LOGIN PASSWORD 'drainer';
      GRANT CREATE, USAGE ON SCHEMA public TO ${owner.role};`);
    owner.sql = t.connect({ max: 2, username: owner.role, password: 'drainer' });
  });
  afterAll(async () => {
    await owner.sql?.end();
  });
  return owner;
}
