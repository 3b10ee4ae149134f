import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** A user's own family: events by month with a DEFAULT partition, and their tags. */
const events = parseFamily({
  name: 'events',
  tables: ['events', 'event_tags'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, body text, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);
    CREATE TABLE event_tags (id bigint NOT NULL, at timestamptz NOT NULL, tag text NOT NULL,
      PRIMARY KEY (id, at, tag), FOREIGN KEY (id, at) REFERENCES events (id, at) ON DELETE CASCADE)
      PARTITION BY RANGE (at);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    CREATE TABLE event_tags_default PARTITION OF event_tags DEFAULT;
    INSERT INTO events SELECT i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour', 'e' || i
      FROM generate_series(0, 24 * 61 - 1) i;          -- March and April 2026, all in DEFAULT
    INSERT INTO event_tags SELECT id, at, t FROM events, unnest(ARRAY['a', 'b']) t;`);
});

describe('drainKey on a RANGE family (a month that landed in DEFAULT)', () => {
  it('moves exactly March, from both tables, and keeps every row', async () => {
    const before = {
      events: await tableDigest(t.sql, 'events', ['id', 'at']),
      tags: await tableDigest(t.sql, 'event_tags', ['id', 'at', 'tag']),
    };
    const march = {
      kind: 'range',
      from: new Date('2026-03-01T00:00:00Z'),
      to: new Date('2026-04-01T00:00:00Z'),
    } as const;
    // Drained from a session far from UTC: the bounds must not shift (docs/postgres-behaviours.md#bounds-and-time-zones).
    const ny = drizzle(t.connect({ max: 2, connection: { TimeZone: 'America/New_York' } }));
    const result = await drainKey(ny, events, march);
    expect(result.tables).toEqual([
      { table: 'events', partition: 'events_2026_03', rowsMoved: 31 * 24 },
      { table: 'event_tags', partition: 'event_tags_2026_03', rowsMoved: 31 * 24 * 2 },
    ]);
    const utc = t.connect({ max: 1, connection: { TimeZone: 'UTC' } });
    const [bound] = await utc<{ b: string }[]>`
      SELECT pg_get_expr(relpartbound, oid) AS b FROM pg_class WHERE relname = 'events_2026_03'`;
    expect(bound?.b).toBe(
      "FOR VALUES FROM ('2026-03-01 00:00:00+00') TO ('2026-04-01 00:00:00+00')",
    );
    expect({
      events: await tableDigest(t.sql, 'events', ['id', 'at']),
      tags: await tableDigest(t.sql, 'event_tags', ['id', 'at', 'tag']),
    }).toEqual(before);
    const [left] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM events_default WHERE at < '2026-04-01 00:00:00+00'`;
    expect(left?.n).toBe(0);
  });
});

/** A family of one table: nothing needs PostgreSQL 18's NOT VALID keys, so `auto` swaps. */
const logs = parseFamily({
  name: 'logs',
  tables: ['app_log'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});

describe('drainKey of a single-table family, strategy auto', () => {
  it('swaps on every supported version: the hold is catalog work, every row kept', async () => {
    await t.sql.unsafe(`
      CREATE TABLE app_log (id bigint NOT NULL, at timestamptz NOT NULL, line text,
        PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE app_log_default PARTITION OF app_log DEFAULT;
      -- pgparts's own (adopted by the first drain): a swap replaces only a DEFAULT it owns.
      COMMENT ON TABLE app_log_default IS 'pgparts:managed';
      INSERT INTO app_log SELECT i, timestamptz '2026-05-01 00:00:00+00' + i * interval '1 hour', 'l' || i
        FROM generate_series(0, 24 * 61 - 1) i;          -- May and June 2026, all in DEFAULT`);
    const before = await tableDigest(t.sql, 'app_log', ['id', 'at', 'line']);
    const may = {
      kind: 'range',
      from: new Date('2026-05-01T00:00:00Z'),
      to: new Date('2026-06-01T00:00:00Z'),
    } as const;
    const result = await drainKey(t.db, logs, may);
    expect(result).toMatchObject({ status: 'drained', strategy: 'swap', rowsMoved: 31 * 24 });
    // Nothing deleted under the locks: the rows left DEFAULT by swapping in its successor.
    expect(result.finalPhase.deleteMs).toBe(0);
    expect(await tableDigest(t.sql, 'app_log', ['id', 'at', 'line'])).toEqual(before);
    const parts = await t.sql<{ name: string; n: number }[]>`
      SELECT tableoid::regclass::text AS name, count(*)::int AS n FROM app_log GROUP BY 1 ORDER BY 1`;
    expect(parts).toEqual([
      { name: 'app_log_2026_05', n: 31 * 24 },
      { name: 'app_log_default', n: 30 * 24 },
    ]);
  });
});
