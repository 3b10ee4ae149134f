import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildIndexOnline } from '../../src/ops/online-index.js';
import { openTransaction } from '../support/open-transaction.js';
import { useTestDatabase } from '../support/test-database.js';
import { indexStates, startLockWaitSampler, startWriter } from './online-index-support.js';

const t = useTestDatabase({ migrated: false });

const ROWS = 200_000;
const LOCK_TIMEOUT_MS = 500;
const WRITERS = 4;
/** Time for the server to cancel a lock request at lock_timeout and wake the writers behind it. */
const WAKE_UP_MS = 150;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE events (
      tenant_id int NOT NULL, id bigint NOT NULL, kind text NOT NULL, payload text,
      created_at timestamptz NOT NULL DEFAULT now()
    ) PARTITION BY LIST (tenant_id);
    CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
    CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);
    CREATE TABLE events_3 PARTITION OF events FOR VALUES IN (3);
    CREATE TABLE events_4 PARTITION OF events FOR VALUES IN (4);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    INSERT INTO events (tenant_id, id, kind, payload)
      SELECT g % 5 + 1, g, 'kind_' || (g % 97), md5(g::text) FROM generate_series(1, ${ROWS}) g;
    ANALYZE events;
  `);
});

describe('buildIndexOnline while four connections insert', () => {
  it('never makes a writer wait past lock_timeout; every partition ends with a valid index, new ones too', async () => {
    const writerPids: number[] = [];
    const writers = await Promise.all(
      Array.from({ length: WRITERS }, async (_, n) => {
        const writer = await startWriter(t, n);
        writerPids.push(writer.pid);
        return writer;
      }),
    );
    const sampler = startLockWaitSampler(t, writerPids);
    const ddl = t.connect({ max: 1 });
    await ddl.unsafe(`SET lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
    let createdDuring = false;
    let result: Awaited<ReturnType<typeof buildIndexOnline>>;
    try {
      result = await buildIndexOnline(
        drizzle(t.connect({ max: 2 })),
        {
          table: { name: 'events' },
          name: 'events_kind_idx',
          columns: [{ column: 'kind' }, { column: 'created_at', order: 'desc' }],
        },
        {
          lockTimeoutMs: LOCK_TIMEOUT_MS,
          onProgress: async (event) => {
            if (event.kind === 'planned' && event.round === 1) {
              // Created after the build listed the partitions, before the parent index exists:
              // PostgreSQL gives it no index, the build must find it when it lists them again.
              await ddl.unsafe('CREATE TABLE events_6 PARTITION OF events FOR VALUES IN (6)');
            }
            if (event.kind === 'statement' && event.statement === 'create-partition-index') {
              if (!createdDuring) {
                // Created while the partitions' indexes are being built: PostgreSQL itself
                // creates and attaches its index, since the parent index exists by now.
                createdDuring = true;
                await ddl.unsafe('CREATE TABLE events_7 PARTITION OF events FOR VALUES IN (7)');
              }
            }
          },
        },
      );
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
      await sampler.stop();
    }

    // Writers: never an error, and no lock wait the server showed reached lock_timeout.
    for (const writer of writers) expect(writer.errors).toEqual([]);
    const inserted = writers.reduce((sum, w) => sum + w.inserted, 0);
    expect(inserted).toBeGreaterThan(WRITERS);
    expect(sampler.samples).toBeGreaterThan(10);
    expect(sampler.longestWaitMs).toBeLessThan(LOCK_TIMEOUT_MS);
    expect(sampler.longestWaitBehindIndexMs).toBeLessThan(LOCK_TIMEOUT_MS);
    console.log(
      `online index: ${ROWS} rows, build ${result.durationMs} ms in ${result.rounds} rounds, ` +
        `${inserted} concurrent inserts, ${sampler.samples} pg_locks samples, ` +
        `${sampler.waitingSamples} with a writer waiting, longest writer lock wait ` +
        `${sampler.longestWaitMs.toFixed(1)} ms (behind: ${sampler.longestWaitBehind}), longest behind an index statement ` +
        `${sampler.longestWaitBehindIndexMs.toFixed(1)} ms, longest insert (server) ` +
        `${Math.max(...writers.map((w) => w.longestMs)).toFixed(1)} ms, lock_timeout ${LOCK_TIMEOUT_MS} ms, ` +
        `lock timeouts retried ${result.lockTimeouts}`,
    );

    // The index: valid on the parent and on every partition, DEFAULT and both new ones included.
    const states = await indexStates(t.sql, 'events', 'events_kind_idx');
    expect(states.parentValid).toBe(true);
    expect(states.partitions.map((p) => p.partition)).toEqual([
      'events_1',
      'events_2',
      'events_3',
      'events_4',
      'events_6',
      'events_7',
      'events_default',
    ]);
    for (const p of states.partitions) expect(p).toMatchObject({ attached: true, valid: true });
    // events_6 was built by the second round, under the build's name; events_7's index was
    // made by PostgreSQL (its own name), and the build left it alone.
    expect(result.rounds).toBeGreaterThanOrEqual(2);
    expect(states.partitions.find((p) => p.partition === 'events_6')?.index).toBe(
      'events_6_kind_idx',
    );
    expect(states.partitions.find((p) => p.partition === 'events_7')?.index).not.toBe(
      'events_7_kind_idx',
    );
    expect(result.statements).not.toContain(expect.stringContaining('ON "public"."events_7"'));
    expect(states.invalid).toEqual([]);
    // DESC survived on every partition (PostgreSQL would attach an ASC one too).
    for (const p of states.partitions) expect(p.indoption).toBe('0 3');

    const [rows] = await t.sql<{ count: number }[]>`SELECT count(*)::int AS count FROM events`;
    expect(rows?.count).toBe(ROWS + inserted);
  });
});

describe('buildIndexOnline when its ON ONLY has to wait', () => {
  it('gives up at lock_timeout, so writers queued behind it wait less than that, and retries', async () => {
    // An open transaction that inserted into events: CREATE INDEX ... ON ONLY events needs a
    // SHARE lock on the table, waits for it, and every writer arriving meanwhile queues behind.
    const blocking = await openTransaction(t.connect({ max: 1 }), [
      `INSERT INTO events (tenant_id, id, kind) VALUES (1, 1, 'held')`,
    ]);

    const writerPids: number[] = [];
    const writers = await Promise.all(
      Array.from({ length: WRITERS }, async (_, n) => {
        const writer = await startWriter(t, n + WRITERS);
        writerPids.push(writer.pid);
        return writer;
      }),
    );
    const sampler = startLockWaitSampler(t, writerPids);
    let result: Awaited<ReturnType<typeof buildIndexOnline>>;
    try {
      result = await buildIndexOnline(
        drizzle(t.connect({ max: 2 })),
        { table: { name: 'events' }, name: 'events_payload_idx', columns: [{ column: 'payload' }] },
        {
          lockTimeoutMs: LOCK_TIMEOUT_MS,
          onProgress: async (event) => {
            if (event.kind === 'retry') {
              await blocking.commit();
            }
          },
        },
      );
    } finally {
      await blocking.commit().catch(() => {});
      await Promise.all(writers.map((w) => w.stop()));
      await sampler.stop();
    }
    for (const writer of writers) expect(writer.errors).toEqual([]);
    expect(result.lockTimeouts).toBe(1);
    // Writers did queue behind the waiting ON ONLY (the server showed it), and no longer than
    // lock_timeout: they arrived after it began to wait, and it gave up at lock_timeout. The
    // allowance is the server's time to cancel the request and wake them (scheduling on a
    // loaded machine), as in test/core/lock-timeout.test.ts.
    expect(sampler.longestWaitBehindIndexMs).toBeGreaterThan(LOCK_TIMEOUT_MS / 4);
    expect(sampler.longestWaitBehindIndexMs).toBeLessThanOrEqual(LOCK_TIMEOUT_MS + WAKE_UP_MS);
    console.log(
      `ON ONLY behind an open transaction: 1 lock timeout retried, writers' longest wait behind it ` +
        `${sampler.longestWaitBehindIndexMs.toFixed(1)} ms (lock_timeout ${LOCK_TIMEOUT_MS} ms), ` +
        `${sampler.waitingSamples} of ${sampler.samples} samples with a writer waiting`,
    );
    const states = await indexStates(t.sql, 'events', 'events_payload_idx');
    expect(states.parentValid).toBe(true);
    for (const p of states.partitions) expect(p).toMatchObject({ attached: true, valid: true });
  });
});
