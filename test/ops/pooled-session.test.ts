import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { MAINTENANCE_LOCK_KEY } from '../../src/run/advisory-lock.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * What a transaction-mode pooler does to a client, on real server connections: every statement
 * goes to the next of `servers` (pgbouncer hands a statement outside a transaction to any free
 * server connection). The run's "pinned" connection is such a client.
 */
class StatementPool extends pg.Pool {
  constructor(
    url: string,
    readonly servers: pg.Client[],
  ) {
    super({ connectionString: url, max: 1 });
  }
  private next = 0;
  // @ts-expect-error: a client that is no single connection, as behind the pooler
  override async connect() {
    return {
      query: (...args: unknown[]) => {
        const server = this.servers[this.next++ % this.servers.length] as pg.Client;
        return (server.query as (...a: unknown[]) => unknown)(...args);
      },
      release() {},
      on() {},
      removeListener() {},
    };
  }
}

const notes = parseFamily({
  name: 'notes',
  tables: ['notes'],
  partitionBy: { strategy: 'list', column: 'topic', values: [1, 2] },
});

const servers: pg.Client[] = [];
async function server(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  servers.push(client);
  return client;
}
const pids = async (clients: pg.Client[]) =>
  Promise.all(
    clients.map(async (c) => Number((await c.query('SELECT pg_backend_pid() AS p')).rows[0].p)),
  );

beforeAll(async () => {
  await t.sql.unsafe(
    'CREATE TABLE notes (topic int NOT NULL, id bigint NOT NULL) PARTITION BY LIST (topic)',
  );
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.end()));
});

const partitions = async () =>
  Number(
    (
      await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_inherits
      WHERE inhparent = 'notes'::regclass`
    )[0]?.n,
  );

describe('apply behind a transaction-mode pooler', () => {
  it('refuses when its statements reach two server sessions, before any change, and leaves no lock', async () => {
    const pool = new StatementPool(t.url, [await server(), await server()]);
    const [a, b] = await pids(pool.servers);
    expect(a).not.toBe(b);
    expectPgpartsError(
      await rejection(apply(drizzle(pool as unknown as pg.Pool), { families: [notes] })),
      'connection',
      {
        message:
          /its settings ran in server session \d+ and its lock attempt, sent right after them, in \d+: the connection does not keep one server session.*nothing was changed/,
        step: 'apply',
      },
    );
    await pool.end();
    expect(await partitions()).toBe(0);
    const [held] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'
        AND classid::bigint = (${MAINTENANCE_LOCK_KEY[0]}::int4::bigint & 4294967295)
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    expect(held?.n).toBe(0);
  });

  it('refuses when the one server session it reaches already holds the lock (another client of it took it)', async () => {
    const shared = await server();
    // Another client of the pooler, on the same server connection, runs maintenance.
    await shared.query('SELECT pg_advisory_lock($1::int4, $2::int4)', [...MAINTENANCE_LOCK_KEY]);
    const pool = new StatementPool(t.url, [shared]);
    expectPgpartsError(
      await rejection(apply(drizzle(pool as unknown as pg.Pool), { families: [notes] })),
      'connection',
      {
        message: /already held the maintenance lock: a client before it on that session took it/,
      },
    );
    await pool.end();
    expect(await partitions()).toBe(0);
    // Its lock is as the other client left it: held once, released by one unlock.
    const unlocked = await shared.query('SELECT pg_advisory_unlock($1::int4, $2::int4) AS u', [
      ...MAINTENANCE_LOCK_KEY,
    ]);
    expect(unlocked.rows[0].u).toBe(true);
    const again = await shared.query('SELECT pg_advisory_unlock($1::int4, $2::int4) AS u', [
      ...MAINTENANCE_LOCK_KEY,
    ]);
    expect(again.rows[0].u).toBe(false);
  });

  it('runs as before on a connection that is one server session', async () => {
    const pool = new pg.Pool({ connectionString: t.url, max: 2 });
    const result = await apply(drizzle(pool), { families: [notes] });
    await pool.end();
    expect(result).toMatchObject({ status: 'applied', failed: 0, done: 2 });
    expect(await partitions()).toBe(2);
  });
});
