import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { openTransaction } from '../support/open-transaction.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** A family of one table whose March landed in DEFAULT. */
const events = parseFamily({
  name: 'af_events',
  tables: ['af_events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});
const march = {
  kind: 'range',
  from: new Date('2026-03-01T00:00:00Z'),
  to: new Date('2026-04-01T00:00:00Z'),
} as const;
const april = {
  kind: 'range',
  from: new Date('2026-04-01T00:00:00Z'),
  to: new Date('2026-05-01T00:00:00Z'),
} as const;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE af_events (id bigint NOT NULL, at timestamptz NOT NULL, body text, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at)`);
  // pgparts makes DEFAULT (its own: a swap replaces it) and the months around now.
  expect((await apply(t.db, { families: [events] })).failed).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO af_events SELECT i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour', 'e' || i
      FROM generate_series(0, 24 * 61 - 1) i`);
});

const watcher = t.connect({ max: 1 });
afterAll(async () => {
  await watcher.end();
});

/** The relations a backend holds locks on, and those it waits for. */
async function locksOf(pid: number) {
  const rows = await watcher<{ rel: string; granted: boolean }[]>`
    SELECT relation::regclass::text AS rel, granted FROM pg_locks
    WHERE pid = ${pid} AND locktype = 'relation' ORDER BY 1`;
  return {
    held: rows.filter((r) => r.granted).map((r) => r.rel),
    waiting: rows.filter((r) => !r.granted).map((r) => r.rel),
  };
}

describe("a drain's final transaction", () => {
  it.each([
    ['swap', 'af_events_2026_03', march, 31 * 24],
    ['delete', 'af_events_2026_04', april, 30 * 24],
  ] as const)(
    '%s: locks the table it attaches before the tables writers use: waiting for it (an autovacuum of the copied rows), it holds none of theirs',
    async (strategy, staging, key, rows) => {
      const before = await tableDigest(t.sql, 'af_events', ['id', 'at']);
      let holder: Awaited<ReturnType<typeof openTransaction>> | undefined;
      let seen: { held: string[]; waiting: string[] } | undefined;
      const result = await drainKey(t.db, events, key, {
        strategy,
        lockTimeoutMs: 5000,
        onPhase: async (phase) => {
          if (phase !== 'replayed') return;
          // What an autovacuum of the staging table takes while it works on the rows copied in.
          holder = await openTransaction(t.connect({ max: 1 }), [
            `LOCK TABLE ${staging} IN SHARE UPDATE EXCLUSIVE MODE`,
          ]);
          // Once the final transaction waits on the staging table, what it holds meanwhile (seen
          // by the server); then the holder lets go. Not awaited here: the drain goes on.
          void (async () => {
            for (let i = 0; i < 2000 && !seen; i++) {
              const [waiter] = await watcher<{ pid: number }[]>`
              SELECT pid FROM pg_locks WHERE NOT granted AND relation = ${staging}::regclass`;
              if (waiter) seen = await locksOf(waiter.pid);
            }
            await holder?.commit();
          })();
        },
      });
      expect(result.strategy).toBe(strategy);
      expect(seen?.waiting).toEqual([staging]);
      // Writers insert through af_events into DEFAULT (or a swap's new DEFAULT, not attached
      // yet): the waiting transaction holds no lock on either.
      expect(seen?.held.filter((rel) => /^af_events(_default)?$/.test(rel))).toEqual([]);
      expect(await tableDigest(t.sql, 'af_events', ['id', 'at'])).toEqual(before);
      const [moved] = await t.sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM ${t.sql(staging)}`;
      expect(moved?.n).toBe(rows);
    },
  );
});

describe('a swap while another partition is being vacuumed', () => {
  const may = {
    kind: 'range',
    from: new Date('2026-05-01T00:00:00Z'),
    to: new Date('2026-06-01T00:00:00Z'),
  } as const;
  it('takes no lock on the partitions it does not change: an autovacuum of one does not hold it up', async () => {
    await t.sql.unsafe(`
      INSERT INTO af_events SELECT 100000 + i, timestamptz '2026-05-01 00:00:00+00' + i * interval '1 hour', 'm' || i
        FROM generate_series(0, 24 * 31 - 1) i`);
    const [other] = await t.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'af_events'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
      ORDER BY 1 LIMIT 1`;
    const before = await tableDigest(t.sql, 'af_events', ['id', 'at']);
    // What an autovacuum of that partition takes, held for the whole drain (an autovacuum
    // gives way only after deadlock_timeout, 1 s).
    const holder = await openTransaction(t.connect({ max: 1 }), [
      `LOCK TABLE ${other?.name} IN SHARE UPDATE EXCLUSIVE MODE`,
    ]);
    try {
      const result = await drainKey(t.db, events, may, {
        strategy: 'swap',
        lockTimeoutMs: 1000,
        retries: 1,
      });
      expect(result.strategy).toBe('swap');
    } finally {
      await holder.commit();
    }
    expect(await tableDigest(t.sql, 'af_events', ['id', 'at'])).toEqual(before);
    const [moved] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM af_events_2026_05`;
    expect(moved?.n).toBe(31 * 24);
  });
});
