import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { MANAGED_MARKER } from '../../src/define/marker.js';
import { parseFamily } from '../../src/define/spec.js';
import { type DrainOptions, drainKey } from '../../src/ops/drain/drain.js';
import { defaultIndexNamesSql } from '../../src/ops/drain/indexes.js';
import { killWhileWaiting } from '../support/kill-while-waiting.js';
import { month2026 as month } from '../support/month-key.js';
import { openTransaction } from '../support/open-transaction.js';
import { recordingDatabase } from '../support/recording.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

type Point = NonNullable<Parameters<NonNullable<DrainOptions['onPhase']>>[0]>;

/**
 * A drain's tables are created without indexes and given their parent's after the copy
 * (src/ops/drain/indexes.ts). What must hold: the key's partition ends with exactly the indexes
 * and constraints CREATE TABLE ... LIKE would have given it, ATTACH adopts them (builds none),
 * a drain interrupted before, during or after the build converges when run again, and a row an
 * update moved during the copy (copied twice) does not break the build.
 */
const gauges = parseFamily({
  name: 'gauges',
  tables: ['gauges'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});

const digest = () => tableDigest(t.sql, 'gauges', ['id', 'at']);

beforeAll(async () => {
  // Indexes of every kind a drain rebuilds: a primary key, a unique constraint with INCLUDE, a
  // partial index, an expression index with a sort order, a unique index without a constraint.
  await t.sql.unsafe(`
    CREATE TABLE gauges (id bigint NOT NULL, at timestamptz NOT NULL, name text NOT NULL,
      reading numeric, note text, PRIMARY KEY (id, at), UNIQUE (name, at) INCLUDE (reading))
      PARTITION BY RANGE (at);
    CREATE INDEX gauges_read ON gauges (at) WHERE reading IS NOT NULL;
    CREATE INDEX ON gauges (lower(name), id DESC);
    CREATE UNIQUE INDEX ON gauges (id, at, name);
    CREATE TABLE gauges_default PARTITION OF gauges DEFAULT;
    COMMENT ON TABLE gauges_default IS '${MANAGED_MARKER}'; -- pgparts's own (adopted at the first drain)
    INSERT INTO gauges SELECT i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour',
      'g' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE i / 7.0 END, repeat(md5(i::text), 6)
      FROM generate_series(0, 24 * 153 - 1) i;    -- March to July 2026, all in DEFAULT`);
});

/** A table's indexes as (name, definition), its own name replaced by T: comparable across tables. */
async function indexesOf(
  table: string,
): Promise<{ name: string; def: string; constraint: string | null }[]> {
  const rows = await t.sql<{ name: string; def: string; constraint: string | null }[]>`
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, con.contype::text AS constraint
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
    WHERE i.indrelid = to_regclass(${table}) ORDER BY c.relname`;
  return rows.map((r) => ({
    name: r.name.replaceAll(table, 'T'),
    def: r.def.replaceAll(table, 'T'),
    constraint: r.constraint,
  }));
}

const indexOids = async (table: string) =>
  (
    await t.sql<{ oid: number }[]>`
      SELECT indexrelid::int AS oid FROM pg_index WHERE indrelid = to_regclass(${table})
      ORDER BY indexrelid`
  ).map((r) => r.oid);

/** What CREATE TABLE ... LIKE gives, as pgparts's other partitions are made. */
async function likeParent(): Promise<{ name: string; def: string; constraint: string | null }[]> {
  await t.sql.unsafe(
    'CREATE TABLE IF NOT EXISTS gauges_probe (LIKE gauges INCLUDING ALL EXCLUDING COMMENTS)',
  );
  return indexesOf('gauges_probe');
}

/** Every index of `partition` is attached to one of the parent's, and they number the same. */
async function expectAdopted(partition: string): Promise<void> {
  const [row] = await t.sql<{ attached: number; parent: number }[]>`
    SELECT (SELECT count(*)::int FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indexrelid
            WHERE i.indrelid = to_regclass(${partition})) AS attached,
           (SELECT count(*)::int FROM pg_index WHERE indrelid = 'gauges'::regclass) AS parent`;
  expect(row?.attached).toBe(row?.parent);
}

describe('drainKey builds its tables indexes after the copy', () => {
  it.each([
    ['swap', 3],
    ['delete', 4],
  ] as const)(
    '%s: the partition has exactly what LIKE gives, and ATTACH built none of it',
    async (strategy, m) => {
      const before = await digest();
      const staged: Record<string, number[]> = {};
      const partition = `gauges_2026_0${m}`;
      const result = await drainKey(t.db, gauges, month(m), {
        strategy,
        onPhase: async (phase) => {
          if (phase !== 'replayed') return;
          // Built before the final phase: the tables' indexes as they go into it.
          staged.target = await indexOids(partition);
          staged.next = await indexOids('gauges_default_next');
        },
      });
      expect(result).toMatchObject({
        status: 'drained',
        strategy,
        rowsMoved: 24 * 31 - (m === 4 ? 24 : 0),
      });
      expect(await digest()).toEqual(before);
      expect(await indexesOf(partition)).toEqual(await likeParent());
      expect(
        (await indexesOf(partition))
          .filter((i) => i.constraint)
          .map((i) => i.constraint)
          .sort(),
      ).toEqual(['p', 'u']);
      await expectAdopted(partition);
      // The same indexes (same oids) before the final phase and after it: none was built there.
      expect(staged.target).toHaveLength(5);
      expect(await indexOids(partition)).toEqual(staged.target);
      if (strategy === 'swap') {
        expect(staged.next).toHaveLength(5);
        expect(await indexOids('gauges_default')).toEqual(staged.next);
        // Once the old DEFAULT is dropped its indexes' names go back to gauges_default, from the
        // gauges_default_next_* they got when built (they kept those, and the next swap's got a
        // digit: gauges_default_next_pkey1).
        expect(await indexesOf('gauges_default')).toEqual(await likeParent());
        await expectAdopted('gauges_default');
      }
    },
  );
});

describe('drainKey killed around the index build', () => {
  it.each([
    // The build's first statement waits for the staging table: killed with the rows copied and
    // no index; the rerun empties the table and copies again.
    ['between the copy and the index build', 5, 'copied', 'gauges_2026_05', 0],
    // Killed at the first replay, the indexes built: the rerun copies again over them.
    ['after the index build', 6, 'indexed', 'pgparts_changes', 5],
  ] as [string, number, Point, string, number][])(
    '%s: a rerun finishes with nothing lost or duplicated',
    async (_label, m, point, blocker, indexesLeft) => {
      const before = await digest();
      const partition = `gauges_2026_0${m}`;
      // node-postgres for the connection that gets killed (see drain-interrupted.test.ts).
      const victim = new pg.Client({ connectionString: t.url });
      victim.on('error', () => {});
      await victim.connect();
      const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const interrupted = drainKey(drizzlePg(victim), gauges, month(m), {
        strategy: 'swap',
        onPhase: async (phase) => {
          if (phase === point) await killWhileWaiting(t, rows[0]?.pid ?? 0, blocker);
        },
      });
      await expect(interrupted).rejects.toThrow();
      void victim.end().catch(() => {});

      const [left] = await t.sql<{ rows: number; attached: boolean }[]>`
        SELECT (SELECT count(*)::int FROM ${t.sql(partition)}) AS rows,
               EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(${partition})) AS attached`;
      expect(left).toEqual({ rows: 24 * (m === 5 ? 31 : 30), attached: false });
      expect(await indexOids(partition)).toHaveLength(indexesLeft);
      expect(await digest()).toEqual(before);

      // Writers go on meanwhile (the trigger logs them), then the rerun.
      const from = month(m).from.toISOString();
      await t.sql`UPDATE gauges SET reading = -1 WHERE at >= ${from} AND at < ${from}::timestamptz + interval '2 hours'`;
      await t.sql`DELETE FROM gauges WHERE at = ${from}::timestamptz + interval '3 hours'`;
      const expected = await digest();
      const rerun = await drainKey(drizzle(t.connect({ max: 2 })), gauges, month(m), {
        strategy: 'swap',
      });
      expect(rerun.status).toBe('drained');
      expect(await digest()).toEqual(expected);
      const [moved] = await t.sql<{ n: number; key: number }[]>`
        SELECT (SELECT count(*)::int FROM ${t.sql(partition)}) AS n,
               (SELECT count(*)::int FROM gauges WHERE at >= ${month(m).from.toISOString()} AND at < ${month(m).to.toISOString()}) AS key`;
      expect(moved?.n).toBe(moved?.key);
      expect(rerun.rowsMoved).toBe(moved?.n);
      expect(await indexesOf(partition)).toEqual(await likeParent());
      await expectAdopted(partition);
    },
  );
});

describe('drainKey when an update moves a row during the copy', () => {
  it("a second swap: DEFAULT's index names stay its own, none gets a digit", async () => {
    await t.sql.unsafe(`INSERT INTO gauges SELECT -i, timestamptz '2026-09-01 00:00:00+00' + i * interval '1 hour',
      'n' || i, i, 'x' FROM generate_series(1, 48) i`);
    const before = await digest();
    expect(await drainKey(t.db, gauges, month(9), { strategy: 'swap' })).toMatchObject({
      status: 'drained',
      strategy: 'swap',
    });
    expect(await digest()).toEqual(before);
    expect(await indexesOf('gauges_default')).toEqual(await likeParent());
    await expectAdopted('gauges_default');
  });

  it("renaming DEFAULT's indexes waits for no writer", async () => {
    // A writer's transaction holding DEFAULT and its indexes (ROW EXCLUSIVE), left open: the
    // renames (SHARE UPDATE EXCLUSIVE on each index) go through under a 100 ms lock_timeout.
    await t.sql.unsafe(
      'ALTER INDEX gauges_default_pkey RENAME TO gauges_default_next_pkey; ALTER INDEX gauges_default_at_idx RENAME TO gauges_default_next_at_idx1',
    );
    const writer = await openTransaction(t.connect({ max: 1 }), [
      "INSERT INTO gauges (id, at, name) VALUES (-1, '2027-06-01 00:00+00', 'w')",
    ]);
    try {
      await t.sql.begin(async (tx) => {
        await tx.unsafe("SET LOCAL lock_timeout = '100ms'");
        await tx.unsafe(defaultIndexNamesSql('public', 'gauges_default', 'gauges_default_next'));
      });
    } finally {
      await writer.rollback();
    }
    expect(await indexesOf('gauges_default')).toEqual(await likeParent());
  });

  it('the row copied twice is removed before the build and written back by the replay', async () => {
    // Room on DEFAULT's last page only, so that the moved row lands on a page copied later.
    await t.sql.unsafe(
      `DELETE FROM gauges_default WHERE ctid >= format('(%s,3)', pg_relation_size('gauges_default') / 8192 - 1)::tid`,
    );
    await t.sql.unsafe('VACUUM gauges_default');
    const july = month(7);
    const [first] = await t.sql<{ id: number }[]>`
      SELECT id FROM gauges_default WHERE at >= ${july.from.toISOString()} AND at < ${july.to.toISOString()} ORDER BY ctid LIMIT 1`;
    const id = Number(first?.id);
    let moved: { from: number; to: number; pages: number } | null = null;
    let expected = await digest();
    const recorded = recordingDatabase(t);
    // One connection copying, which waits for onProgress: the row moves before the next batch.
    const result = await drainKey(recorded.db, gauges, july, {
      strategy: 'swap',
      batchPages: 1,
      sideBySide: false,
      onProgress: async (progress) => {
        if (progress.phase !== 'copy' || moved) return;
        const page = async () => {
          const [row] = await t.sql<{ page: number; pages: number }[]>`
            SELECT (ctid::text::point)[0]::int AS page,
                   (pg_relation_size('gauges_default') / 8192)::int AS pages
            FROM gauges_default WHERE id = ${id}`;
          return row ?? { page: -1, pages: 0 };
        };
        const from = await page();
        if (from.page !== progress.done - 1) return; // not in the batch just copied
        // Longer: it fits on its page no more, and moves to one the copy has not read yet.
        await t.sql`UPDATE gauges SET note = note || repeat('x', 200) WHERE id = ${id}`;
        const to = await page();
        moved = { from: from.page, to: to.page, pages: to.pages };
        expected = await digest();
      },
    });
    await recorded.close();
    expect(result.status).toBe('drained');
    // The precondition of this test: the row was copied, then moved to a page copied later.
    expect(moved).not.toBeNull();
    const m = moved as unknown as { from: number; to: number; pages: number };
    expect(m.to).toBeGreaterThan(m.from);
    expect(m.to).toBeLessThan(m.pages);
    expect(
      recorded.statements.filter((s) =>
        s.startsWith('DELETE FROM "public"."gauges_2026_07" t USING'),
      ),
    ).toHaveLength(1);
    expect(await digest()).toEqual(expected);
    const [row] = await t.sql<{ n: number; long: boolean }[]>`
      SELECT count(*)::int AS n, bool_and(length(note) > 192) AS long FROM gauges_2026_07 WHERE id = ${id}`;
    expect(row).toEqual({ n: 1, long: true });
    expect(await indexesOf('gauges_2026_07')).toEqual(await likeParent());
    // The rows moved, as counted from the copy (the double removed, the replay's row added),
    // are the partition's rows.
    const [july07] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM gauges_2026_07`;
    expect(result.rowsMoved).toBe(july07?.n);
  });
});

describe('drainKey builds a table’s indexes side by side', () => {
  /**
   * Holds `table` in `mode` in a transaction of its own, so that what the drain runs on it next
   * waits; once the server shows two of its statements waiting at once (or after 10 s), lets go.
   * Resolves once the lock is held; `most` gives the most that waited at once.
   */
  async function holdUntilTwoWait(table: string, mode: string) {
    const blocker = t.connect({ max: 1 });
    const watcher = t.connect({ max: 1 });
    const open = await openTransaction(blocker, [`LOCK TABLE ${table} IN ${mode} MODE`]);
    let most = 0;
    const watched = (async () => {
      try {
        for (let i = 0; i < 500 && most < 2; i += 1) {
          const [row] = await watcher<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_locks
            WHERE relation = to_regclass(${table}) AND NOT granted
              AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
          most = Math.max(most, row?.n ?? 0);
          if (most < 2) await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await open.commit();
      }
    })();
    return {
      most: async () => {
        await watched;
        return most;
      },
    };
  }

  /**
   * drainKey (delete) on `t.db`, a pool, with the key's staging table `staging` held once its
   * rows are copied: it holds ROW EXCLUSIVE, so an index build (SHARE) waits behind it; on one
   * connection, never two at once. Returns the result and the most builds that waited at once.
   */
  async function drainWatchingBuilds(
    family: Parameters<typeof drainKey>[1],
    key: Parameters<typeof drainKey>[2],
    staging: string,
  ) {
    let building: { most(): Promise<number> } | undefined;
    const result = await drainKey(t.db, family, key, {
      strategy: 'delete',
      onPhase: async (phase) => {
        if (phase === 'copied') building = await holdUntilTwoWait(staging, 'ROW EXCLUSIVE');
      },
    });
    return { result, most: await building?.most() };
  }

  it('on a pool, two of a table’s index builds run at once; the result is the same', async () => {
    await t.sql.unsafe(`
      INSERT INTO gauges SELECT 100000 + i, timestamptz '2026-08-01 00:00:00+00' + i * interval '1 hour',
        'h' || i, i / 7.0, md5(i::text) FROM generate_series(0, 24 * 31 - 1) i`);
    const before = await digest();
    const { result, most } = await drainWatchingBuilds(gauges, month(8), 'gauges_2026_08');
    expect(most).toBe(2);
    expect(result).toMatchObject({ status: 'drained', rowsMoved: 24 * 31 });
    expect(await digest()).toEqual(before);
    expect(await indexesOf('gauges_2026_08')).toEqual(await likeParent());
    await expectAdopted('gauges_2026_08');
  });

  it('a primary key and one other index (the common table) are built at once too', async () => {
    const meters = parseFamily({
      name: 'meters',
      tables: ['meters'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
      defaultPartition: true,
    });
    await t.sql.unsafe(`
      CREATE TABLE meters (id bigint NOT NULL, at timestamptz NOT NULL, reading numeric,
        PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE INDEX ON meters (at);
      CREATE TABLE meters_default PARTITION OF meters DEFAULT;
      COMMENT ON TABLE meters_default IS '${MANAGED_MARKER}';
      INSERT INTO meters SELECT i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour', i
        FROM generate_series(0, 24 * 31 - 1) i`);
    const before = await tableDigest(t.sql, 'meters', ['id', 'at']);
    const { result, most } = await drainWatchingBuilds(meters, month(3), 'meters_2026_03');
    expect(most).toBe(2);
    expect(result).toMatchObject({ status: 'drained', rowsMoved: 24 * 31 });
    expect(await tableDigest(t.sql, 'meters', ['id', 'at'])).toEqual(before);
    expect((await indexesOf('meters_2026_03')).map((i) => `${i.name} ${i.constraint}`)).toEqual([
      'T_at_idx null',
      'T_pkey p',
    ]);
  });
});
