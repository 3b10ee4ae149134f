import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPgpartsError } from '../../src/errors.js';
import {
  buildIndexOnline,
  dropIndex,
  formatIndexBuildPlan,
  type OnlineIndexSpecInput,
  renderOnlineIndexMigration,
} from '../../src/ops/online-index.js';
import { openTransaction } from '../support/open-transaction.js';
import { useTestDatabase } from '../support/test-database.js';
import { indexStates } from './online-index-support.js';

const t = useTestDatabase({ migrated: false });

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE orders (
      region_id int NOT NULL, order_id bigint NOT NULL, status text, total numeric
    ) PARTITION BY LIST (region_id);
    CREATE TABLE orders_1 PARTITION OF orders FOR VALUES IN (1);
    CREATE TABLE orders_2 PARTITION OF orders FOR VALUES IN (2);
    CREATE TABLE orders_3 PARTITION OF orders FOR VALUES IN (3);
    CREATE TABLE orders_default PARTITION OF orders DEFAULT;
    INSERT INTO orders SELECT g % 4 + 1, g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'open' END, g
      FROM generate_series(1, 40000) g;

    CREATE TABLE metrics (
      day date NOT NULL, name text NOT NULL, value float8, host text
    ) PARTITION BY RANGE (day);
    CREATE TABLE metrics_2026_01 PARTITION OF metrics FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
    CREATE TABLE metrics_2026_02 PARTITION OF metrics FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
    CREATE TABLE metrics_default PARTITION OF metrics DEFAULT;
    INSERT INTO metrics SELECT DATE '2026-01-01' + (g % 70), 'm' || (g % 13), g, 'h' || (g % 3)
      FROM generate_series(1, 2000) g;
  `);
});

const uniqueOrders: OnlineIndexSpecInput = {
  table: { schema: 'public', name: 'orders' },
  name: 'orders_region_order_key',
  columns: [{ column: 'region_id' }, { column: 'order_id' }],
  unique: true,
};

describe('an online build killed half-way', () => {
  it('leaves an INVALID index that the next run drops and builds again; UNIQUE is enforced after', async () => {
    // A transaction that wrote into orders_2 and stays open: CREATE INDEX CONCURRENTLY on
    // orders_2 has created its (invalid) index and waits for it, so the build is half-way.
    const blocking = await openTransaction(t.connect({ max: 1 }), [
      `INSERT INTO orders_2 VALUES (2, 900001, 'open', 1)`,
    ]);

    // CREATE INDEX CONCURRENTLY waits for it up to concurrentLockTimeoutMs (60 s by default).
    // Its failure is taken at once: it can come while the loop below still waits for the
    // watcher's reply, and a rejection without a handler by then is an unhandled one.
    const build = buildIndexOnline(drizzle(t.connect({ max: 2 })), uniqueOrders).then(
      () => undefined,
      (e: unknown) => e,
    );
    const watcher = t.connect({ max: 1 });
    let killed = 0;
    for (let tries = 0; tries < 600 && killed === 0; tries += 1) {
      const [row] = await watcher<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%'
          AND query LIKE '%"orders_2"%' AND wait_event_type = 'Lock'`;
      if (row) {
        await watcher`SELECT pg_terminate_backend(${row.pid}::int)`;
        killed = row.pid;
      } else {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    expect(killed).toBeGreaterThan(0);
    const error = await build;
    expect(isPgpartsError(error, 'connection')).toBe(true);
    await blocking.rollback().catch(() => {});

    // Half-way: orders_1's index built (valid, not attached yet), orders_2's INVALID, the
    // parent index invalid.
    const halfway = await indexStates(t.sql, 'orders', 'orders_region_order_key');
    expect(halfway.parentValid).toBe(false);
    const [built] = await t.sql<{ valid: boolean }[]>`
      SELECT indisvalid AS valid FROM pg_index
      WHERE indexrelid = 'public.orders_1_region_order_key'::regclass`;
    expect(built?.valid).toBe(true);
    expect(halfway.invalid).toEqual(['orders_2_region_order_key']);

    // The dry run says what is left; the run does exactly that.
    const dry = await buildIndexOnline(t.db, uniqueOrders, { dryRun: true, lockTimeoutMs: 500 });
    expect(dry.plan.statements.map((s) => [s.kind, s.partition?.name])).toEqual([
      ['set-lock-timeout', undefined],
      ['drop-invalid-index', 'orders_2'],
      ['create-partition-index', 'orders_2'],
      ['create-partition-index', 'orders_3'],
      ['create-partition-index', 'orders_default'],
      ['set-lock-timeout', undefined],
      ['attach-partition-index', 'orders_1'],
      ['attach-partition-index', 'orders_2'],
      ['attach-partition-index', 'orders_3'],
      ['attach-partition-index', 'orders_default'],
      ['reset-lock-timeout', undefined],
    ]);
    const rerun = await buildIndexOnline(t.db, uniqueOrders, { lockTimeoutMs: 500 });
    expect(rerun.statements).toEqual(dry.plan.statements.map((s) => s.sql));
    expect(rerun.statements).toContain(
      'DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_2_region_order_key"',
    );

    const after = await indexStates(t.sql, 'orders', 'orders_region_order_key');
    expect(after.parentValid).toBe(true);
    expect(after.invalid).toEqual([]);
    for (const p of after.partitions) expect(p).toMatchObject({ attached: true, valid: true });

    // UNIQUE holds on the table: a duplicate key fails with 23505.
    const duplicate = await t.sql`INSERT INTO orders VALUES (3, 2, 'dup', 0)`.then(
      () => undefined,
      (e: { code?: string }) => e.code,
    );
    expect(duplicate).toBe('23505');

    // Run again: complete, nothing sent.
    const third = await buildIndexOnline(t.db, uniqueOrders);
    expect(third.statements).toEqual([]);
    expect(third.plan.complete).toBe(true);
  });

  it('refuses a UNIQUE index without the partition key, before creating anything', async () => {
    const error = await buildIndexOnline(t.db, {
      table: { name: 'orders' },
      name: 'orders_order_key',
      columns: [{ column: 'order_id' }],
      unique: true,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPgpartsError(error, 'invalid-config')).toBe(true);
    expect((error as Error).message).toMatch(/partition key column \(region_id\)/);
    const [row] = await t.sql`SELECT to_regclass('public.orders_order_key') AS index`;
    expect(row?.index).toBeNull();
  });
});

describe('a CREATE INDEX CONCURRENTLY that gives up on lock_timeout', () => {
  it('leaves an INVALID index, which the retry drops before building again', async () => {
    await t.sql.unsafe(`
      CREATE TABLE notes (shard int NOT NULL, body text) PARTITION BY LIST (shard);
      CREATE TABLE notes_1 PARTITION OF notes FOR VALUES IN (1);
      INSERT INTO notes SELECT 1, md5(g::text) FROM generate_series(1, 1000) g;`);
    // An open transaction that wrote into notes_1: the concurrent build waits for it to end,
    // and that wait is a lock wait, bounded by lock_timeout.
    const blocking = await openTransaction(t.connect({ max: 1 }), [
      `INSERT INTO notes_1 VALUES (1, 'held')`,
    ]);
    const invalidAtRetry: string[] = [];
    const result = await buildIndexOnline(
      t.db,
      { table: { name: 'notes' }, name: 'notes_body_idx', columns: [{ column: 'body' }] },
      {
        concurrentLockTimeoutMs: 200,
        retries: 3,
        onProgress: async (event) => {
          if (event.kind === 'retry') {
            const rows = await t.sql<{ name: string }[]>`
              SELECT ic.relname AS name FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
              WHERE ic.relname = 'notes_1_body_idx' AND NOT x.indisvalid`;
            invalidAtRetry.push(...rows.map((r) => r.name));
            await blocking.commit();
          }
        },
      },
    );
    expect(result.lockTimeouts).toBe(1);
    expect(invalidAtRetry).toEqual(['notes_1_body_idx']);
    const create =
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "notes_1_body_idx" ON "public"."notes_1" ("body")';
    expect(result.statements.slice(3, 6)).toEqual([
      create,
      'DROP INDEX CONCURRENTLY IF EXISTS "public"."notes_1_body_idx"',
      create,
    ]);
    const states = await indexStates(t.sql, 'notes', 'notes_body_idx');
    expect(states.parentValid).toBe(true);
    expect(states.invalid).toEqual([]);
  });
});

describe('the plan of an online build', () => {
  const spec: OnlineIndexSpecInput = {
    table: { name: 'metrics' },
    name: 'metrics_name_day_idx',
    columns: [
      { column: 'name' },
      { column: 'day', order: 'desc', nulls: 'last' },
      { expression: 'lower(host)' },
    ],
    include: ['value'],
    where: 'value IS NOT NULL',
    using: 'btree',
  };

  it('is exactly what the run sends; the index has every option on every partition', async () => {
    const dry = await buildIndexOnline(t.db, spec, { dryRun: true, lockTimeoutMs: 750 });
    expect(dry.statements).toEqual([]);
    const printed = formatIndexBuildPlan(dry.plan);
    expect(printed).toContain(
      'CREATE INDEX IF NOT EXISTS "metrics_name_day_idx" ON ONLY "public"."metrics" USING "btree" ("name", "day" DESC NULLS LAST, (lower(host))) INCLUDE ("value") WHERE (value IS NOT NULL);',
    );
    expect(printed).toContain(
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "metrics_2026_01_name_day_idx" ON "public"."metrics_2026_01" USING "btree"',
    );
    expect(printed).toContain(
      'ALTER INDEX "public"."metrics_name_day_idx" ATTACH PARTITION "public"."metrics_default_name_day_idx";',
    );
    expect(printed).toContain('--   DROP INDEX CONCURRENTLY IF EXISTS <schema>.<partition index>;');

    const ran = await buildIndexOnline(t.db, spec, { lockTimeoutMs: 750 });
    expect(ran.statements).toEqual(dry.plan.statements.map((s) => s.sql));
    expect(ran.statements[0]).toBe("SET lock_timeout = '750ms'");
    expect(ran.statements.at(-1)).toBe('RESET lock_timeout');

    const states = await indexStates(t.sql, 'metrics', 'metrics_name_day_idx');
    expect(states.parentValid).toBe(true);
    expect(states.partitions).toHaveLength(3);
    for (const p of states.partitions) {
      expect(p).toMatchObject({ attached: true, valid: true, indoption: '0 1 0' });
    }
    const [definition] = await t.sql<{ def: string }[]>`
      SELECT pg_get_indexdef('public.metrics_2026_02_name_day_idx'::regclass) AS def`;
    expect(definition?.def).toBe(
      'CREATE INDEX metrics_2026_02_name_day_idx ON public.metrics_2026_02 USING btree (name, day DESC NULLS LAST, lower(host)) INCLUDE (value) WHERE (value IS NOT NULL)',
    );
  });

  it('refuses to attach an existing partition index whose column order differs', async () => {
    await t.sql.unsafe(`
      CREATE INDEX metrics_2026_01_day_idx ON metrics_2026_01 (day);`);
    const error = await buildIndexOnline(t.db, {
      table: { name: 'metrics' },
      name: 'metrics_day_idx',
      columns: [{ column: 'day', order: 'desc' }],
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPgpartsError(error, 'spec-mismatch')).toBe(true);
    expect((error as Error).message).toMatch(/metrics_2026_01_day_idx .* differs/);
  });

  it('drops an index under lock_timeout (not online: its statements say so by being plain)', async () => {
    const statements = await dropIndex(
      t.db,
      { name: 'metrics_name_day_idx' },
      { lockTimeoutMs: 600 },
    );
    expect(statements).toEqual([
      "SET lock_timeout = '600ms'",
      'DROP INDEX IF EXISTS "public"."metrics_name_day_idx"',
      'RESET lock_timeout',
    ]);
    const [row] = await t.sql`SELECT count(*)::int AS n FROM pg_class
      WHERE relname LIKE 'metrics%name_day_idx'`;
    expect(row?.n).toBe(0);
  });
});

describe('two builds of one index at once', () => {
  it('refuses the second (busy) while the first runs; the first finishes', async () => {
    await t.sql.unsafe(`
      CREATE TABLE tasks (queue int NOT NULL, title text) PARTITION BY LIST (queue);
      CREATE TABLE tasks_1 PARTITION OF tasks FOR VALUES IN (1);`);
    const blocking = await openTransaction(t.connect({ max: 1 }), [
      `INSERT INTO tasks_1 VALUES (1, 'held')`,
    ]);
    const spec = {
      table: { name: 'tasks' },
      name: 'tasks_title_idx',
      columns: [{ column: 'title' }],
    };
    let waiting: () => void = () => {};
    const inBuild = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    const first = buildIndexOnline(drizzle(t.connect({ max: 2 })), spec, {
      onProgress: (event) => {
        if (event.kind === 'statement' && event.statement === 'create-partition-index') waiting();
      },
    });
    await inBuild;
    const second = await buildIndexOnline(t.db, spec).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPgpartsError(second, 'busy')).toBe(true);
    await blocking.commit();
    await first;
    const states = await indexStates(t.sql, 'tasks', 'tasks_title_idx');
    expect(states.parentValid).toBe(true);
  });
});

describe('under node-postgres', () => {
  it('builds on a Pool (one checked-out client, outside any transaction)', async () => {
    const pool = new pg.Pool({ connectionString: t.url, max: 2 });
    try {
      const result = await buildIndexOnline(drizzleNodePostgres(pool), {
        table: { name: 'metrics' },
        name: 'metrics_host_value_idx',
        columns: [{ column: 'host' }, { column: 'value', order: 'desc', nulls: 'last' }],
      });
      expect(result.plan.partitions.map((p) => p.action)).toEqual(['build', 'build', 'build']);
    } finally {
      await pool.end();
    }
    const states = await indexStates(t.sql, 'metrics', 'metrics_host_value_idx');
    expect(states.parentValid).toBe(true);
    for (const p of states.partitions) expect(p).toMatchObject({ attached: true, valid: true });
  });

  it('refuses a transaction: CREATE INDEX CONCURRENTLY cannot run in one', async () => {
    const error = await t.db
      .transaction((tx) =>
        buildIndexOnline(tx as never, {
          table: { name: 'metrics' },
          name: 'metrics_value_idx',
          columns: [{ column: 'value' }],
        }),
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isPgpartsError(error, 'refused')).toBe(true);
  });
});

describe('an online index migration file', () => {
  it('fails under any other migrator before changing anything, and runs its guard under pgparts', async () => {
    const body = renderOnlineIndexMigration([
      { table: { name: 'metrics' }, name: 'metrics_host_idx', columns: [{ column: 'host' }] },
    ]);
    expect(body.split('\n')[0]).toBe('-- pgparts:online');
    const plain = t.connect({ max: 1 });
    const error = await plain.unsafe(body).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(error).toBe('this migration builds indexes online; run it with pgparts migrate');
    await plain.unsafe(`SET pgparts.migrate = 'on'`);
    await plain.unsafe(body);
    const [row] = await plain`SELECT to_regclass('public.metrics_host_idx') AS index`;
    expect(row?.index).toBeNull();
  });
});
