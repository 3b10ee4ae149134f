import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { ensureOwnership } from '../../src/ops/ownership.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** One table, no foreign keys: on every supported version nothing else keeps a swap away. */
const notes = parseFamily({
  name: 'notes',
  tables: ['notes'],
  partitionBy: { strategy: 'list', column: 'topic' },
  defaultPartition: true,
});
const key = (value: number) => ({ kind: 'list', value }) as const;
const digest = () => tableDigest(t.sql, 'notes', ['topic', 'id', 'body']);

/**
 * A fresh family each test: topics 1-3 all in DEFAULT. `owned`: DEFAULT carries pgparts's
 * marker under the name pgparts derives, so the first operation adopts it as its own.
 */
async function setup(owned: boolean): Promise<void> {
  await t.sql.unsafe(`
    DROP TABLE IF EXISTS notes, notes_default_drained, notes_default_next, notes_s1, notes_s2, notes_s3;
    DROP TABLE IF EXISTS pgparts_owned_tables, pgparts_ownership_adopted, pgparts_operations, pgparts_changes;
    CREATE TABLE notes (topic int NOT NULL, id bigint NOT NULL, body text, PRIMARY KEY (topic, id))
      PARTITION BY LIST (topic);
    CREATE TABLE notes_default PARTITION OF notes DEFAULT;
    ${owned ? "COMMENT ON TABLE notes_default IS 'pgparts:managed';" : ''}
    INSERT INTO notes SELECT 1 + i % 3, i, 'n' || i FROM generate_series(1, 3000) i;`);
}

/** Tables a drain made or left beside the family's partitions. */
async function drainTables(): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT relname AS name FROM pg_class
    WHERE relkind = 'r' AND relname ~ '^notes_' AND NOT relispartition ORDER BY 1`;
  return rows.map((r) => r.name);
}

async function partitions(): Promise<Record<string, number>> {
  const rows = await t.sql<{ name: string; n: number }[]>`
    SELECT tableoid::regclass::text AS name, count(*)::int AS n FROM notes GROUP BY 1 ORDER BY 1`;
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

describe('a DEFAULT partition pgparts does not own', () => {
  beforeEach(() => setup(false));

  it('an explicit swap is refused before anything is made, naming the reason', async () => {
    const before = await digest();
    const error = await rejection(drainKey(t.db, notes, key(1), { strategy: 'swap' }));
    expectPgpartsError(error, 'refused');
    expect((error as Error).message).toMatch(
      /cannot swap: notes_default \(DEFAULT of notes\) is not recorded as pgparts's own/,
    );
    expect(await drainTables()).toEqual([]);
    const [trigger] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'notes_default'::regclass AND NOT tgisinternal`;
    expect(trigger?.n).toBe(0);
    expect(await digest()).toEqual(before);
    // The dry run refuses alike.
    expectPgpartsError(
      await rejection(drainDryRun(t.db, notes, key(1), { strategy: 'swap' })),
      'refused',
    );
  });

  it('auto deletes instead, key after key, and keeps every row; DEFAULT stays the same table', async () => {
    const before = await digest();
    const [{ oid } = { oid: '' }] = await t.sql<{ oid: string }[]>`
      SELECT 'notes_default'::regclass::oid::text AS oid`;
    const dry = await drainDryRun(t.db, notes, key(1));
    expect(dry.preview.strategy).toBe('delete');
    for (const topic of [1, 2]) {
      const result = await drainKey(t.db, notes, key(topic));
      expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 1000 });
    }
    expect(await partitions()).toEqual({ notes_s1: 1000, notes_s2: 1000, notes_default: 1000 });
    expect(await digest()).toEqual(before);
    expect(await drainTables()).toEqual([]);
    const [after] = await t.sql<{ oid: string }[]>`
      SELECT 'notes_default'::regclass::oid::text AS oid`;
    expect(after?.oid).toBe(oid);
  });
});

describe('a DEFAULT pgparts owns', () => {
  beforeEach(() => setup(true));

  it('auto swaps, key after key, and leaves nothing behind', async () => {
    const before = await digest();
    for (const topic of [1, 2]) {
      const result = await drainKey(t.db, notes, key(topic));
      expect(result).toMatchObject({ status: 'drained', strategy: 'swap', rowsMoved: 1000 });
    }
    expect(await partitions()).toEqual({ notes_s1: 1000, notes_s2: 1000, notes_default: 1000 });
    expect(await digest()).toEqual(before);
    expect(await drainTables()).toEqual([]);
  });

  it('an old DEFAULT left under its _drained name that pgparts does not own keeps a swap away', async () => {
    // What an earlier swap of a DEFAULT pgparts did not own left behind (it could not drop it),
    // after the family's ownership was carried over (before, its comment would adopt it).
    await ensureOwnership(t.db, notes);
    await t.sql.unsafe(`CREATE TABLE notes_default_drained (LIKE notes);
      COMMENT ON TABLE notes_default_drained IS 'pgparts:drain-old-default'`);
    const before = await digest();
    const error = await rejection(drainKey(t.db, notes, key(1), { strategy: 'swap' }));
    expectPgpartsError(error, 'refused');
    expect((error as Error).message).toMatch(
      /cannot swap: a table named notes_default_drained exists that pgparts does not own/,
    );
    expect(await drainTables()).toEqual(['notes_default_drained']);
    const dry = await drainDryRun(t.db, notes, key(1));
    expect(dry.preview.strategy).toBe('delete');
    expect(dry.statements.filter((s) => s.includes('notes_default_drained'))).toEqual([]);
    const result = await drainKey(t.db, notes, key(1));
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 1000 });
    expect(await digest()).toEqual(before);
    // Not pgparts's: left alone.
    expect(await drainTables()).toEqual(['notes_default_drained']);
  });
});

/** Drains `topic` until the copy is done, then stops as a crash would (the record stays). */
async function interruptedDrain(topic: number): Promise<void> {
  const stop = new Error('stopped after the copy');
  const error = await rejection(
    drainKey(t.db, notes, key(topic), {
      strategy: 'swap',
      onPhase: (phase) => {
        if (phase === 'copied') throw stop;
      },
    }),
  );
  expect(error).toBe(stop);
}

async function records(): Promise<{ key: string; phase: string }[]> {
  return t.sql<{ key: string; phase: string }[]>`
    SELECT key, phase FROM pgparts_operations ORDER BY key`;
}

describe("a successor DEFAULT left by another key's interrupted swap", () => {
  beforeEach(() => setup(true));

  it('a drain of another key is refused, saying which drain to finish and how; then both drain', async () => {
    const before = await digest();
    await interruptedDrain(1);
    const [owner] = await t.sql<{ key: string }[]>`
      SELECT key FROM pgparts_owned_tables WHERE name = 'notes_default_next'`;
    expect(owner?.key).toBe('1');
    const left = await drainTables();
    expect(left).toEqual(['notes_default_next', 'notes_s1']);

    for (const attempt of [
      () => drainKey(t.db, notes, key(2)),
      () => drainKey(t.db, notes, key(2), { strategy: 'delete' }),
      () => drainDryRun(t.db, notes, key(2)),
    ]) {
      const error = await rejection(attempt());
      expectPgpartsError(error, 'busy');
      expect((error as Error).message).toMatch(
        /an unfinished drain of key 1 \(phase copied, .*\) is on this family; nothing was changed: finish it first with `pgparts drain notes 1` or `pgparts apply`/,
      );
    }
    // Nothing made, nothing recorded for key 2; key 1's tables untouched.
    expect(await drainTables()).toEqual(left);
    expect(await records()).toEqual([{ key: '1', phase: 'copied' }]);
    expect(await digest()).toEqual(before);

    expect(await drainKey(t.db, notes, key(1))).toMatchObject({
      status: 'drained',
      strategy: 'swap',
      rowsMoved: 1000,
    });
    expect(await drainKey(t.db, notes, key(2))).toMatchObject({
      status: 'drained',
      strategy: 'swap',
      rowsMoved: 1000,
    });
    expect(await partitions()).toEqual({ notes_s1: 1000, notes_s2: 1000, notes_default: 1000 });
    expect(await digest()).toEqual(before);
    expect(await drainTables()).toEqual([]);
    expect(await records()).toEqual([]);
  });

  it("one whose drain is no longer recorded is dropped and rebuilt; that key's staging table is left to it", async () => {
    const before = await digest();
    await interruptedDrain(1);
    // The record gone (say, deleted by hand): no drain will resume with the successor.
    await t.sql`DELETE FROM pgparts_operations`;
    const [old] = await t.sql<{ oid: string }[]>`
      SELECT 'notes_default_next'::regclass::oid::text AS oid`;
    const dry = await drainDryRun(t.db, notes, key(2));
    expect(dry.statements).toContain('DROP TABLE "public"."notes_default_next"');
    const result = await drainKey(t.db, notes, key(2));
    expect(result).toMatchObject({ status: 'drained', strategy: 'swap', rowsMoved: 1000 });
    expect(await partitions()).toEqual({ notes_s2: 1000, notes_default: 2000 });
    expect(await digest()).toEqual(before);
    // Its successor went, replaced by key 2's (now DEFAULT); key 1's staging table stays.
    const [gone] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_class WHERE oid = ${old?.oid ?? '0'}::oid`;
    expect(gone?.n).toBe(0);
    expect(await drainTables()).toEqual(['notes_s1']);
    // Key 1's drain picks its staging table up (copied again: DEFAULT is a new table).
    expect(await drainKey(t.db, notes, key(1))).toMatchObject({
      status: 'drained',
      rowsMoved: 1000,
    });
    expect(await partitions()).toEqual({ notes_s1: 1000, notes_s2: 1000, notes_default: 1000 });
    expect(await digest()).toEqual(before);
    expect(await drainTables()).toEqual([]);
  });

  it('a drain of another key is refused while one runs, which then finishes', async () => {
    const before = await digest();
    let resume: () => void = () => {};
    let copied: () => void = () => {};
    const atCopied = new Promise<void>((resolve) => {
      copied = resolve;
    });
    const running = drainKey(drizzle(t.connect({ max: 2 })), notes, key(1), {
      onPhase: async (phase) => {
        if (phase !== 'copied') return;
        copied();
        await new Promise<void>((resolve) => {
          resume = resolve;
        });
      },
    });
    await atCopied;
    const error = await rejection(drainKey(t.db, notes, key(2)));
    expectPgpartsError(error, 'busy');
    expect((error as Error).message).toMatch(
      /a drain of key 1 is running on this family \(phase copied, .*\); nothing was changed: try again when it is done/,
    );
    expect(await records()).toEqual([{ key: '1', phase: 'copied' }]);
    resume();
    expect(await running).toMatchObject({ status: 'drained', rowsMoved: 1000 });
    expect(await digest()).toEqual(before);
    expect(await drainTables()).toEqual([]);
  });
});
