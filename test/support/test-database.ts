import { randomBytes } from 'node:crypto';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDatabase, dropDatabase } from './database-copy.js';
import { withDatabase } from './urls.js';

export interface TestDatabase {
  name: string;
  url: string;
  /** A pooled postgres.js client on the database. */
  sql: postgres.Sql;
  db: PostgresJsDatabase;
  /** Another, separate client: its own connections, for concurrency tests. */
  connect(options?: postgres.Options<Record<string, postgres.PostgresType>>): postgres.Sql;
}

const quiet = { onnotice: () => {} };

/**
 * A database of this test file's own, created before its tests and dropped after: migrated
 * (cloned from the template the global setup built) unless `migrated: false`.
 */
export function useTestDatabase(options: { migrated?: boolean } = {}): TestDatabase {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDatabase');
  const name = `pgparts_t_${randomBytes(6).toString('hex')}`;
  const url = withDatabase(adminUrl, name);
  const clients: postgres.Sql[] = [];
  const handle = {
    name,
    url,
    connect(extra = {}) {
      const client = postgres(url, { ...quiet, ...extra });
      clients.push(client);
      return client;
    },
  } as TestDatabase;

  beforeAll(async () => {
    await createDatabase(adminUrl, name, options.migrated === false ? undefined : template);
    handle.sql = handle.connect({ max: 4 });
    handle.db = drizzle(handle.sql);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end({ timeout: 5 })));
    await dropDatabase(adminUrl, name);
  });

  return handle;
}
