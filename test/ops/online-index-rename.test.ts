import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { planIndexRename, renameIndexOnline } from '../../src/ops/online-index.js';
import { openTransaction } from '../support/open-transaction.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * An index renamed, its definition the same: ALTER INDEX ... RENAME TO, the partitions' indexes
 * named after it renamed with it, the index itself (its oid, its pages) kept, no writer waited for.
 */
const t = useTestDatabase({ migrated: false });

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE events (tenant_id int NOT NULL, id bigint NOT NULL, kind text)
      PARTITION BY LIST (tenant_id);
    CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
    CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    INSERT INTO events SELECT g % 2 + 1, g, 'kind_' || (g % 7) FROM generate_series(1, 3000) g;
    CREATE INDEX events_kind_idx ON events (kind);
    -- A partition index under another name (made by hand, then attached): it keeps its name.
    CREATE TABLE events_3 (tenant_id int NOT NULL, id bigint NOT NULL, kind text);
    CREATE INDEX hand_made ON events_3 (kind);
    ALTER TABLE events ATTACH PARTITION events_3 FOR VALUES IN (3);
  `);
});

async function indexesOf(parent: string) {
  return t.sql<{ partition: string; index: string; oid: number }[]>`
    SELECT c.relname AS partition, ic.relname AS index, ic.oid::int8 AS oid
    FROM pg_inherits h JOIN pg_class ic ON ic.oid = h.inhrelid
    JOIN pg_index x ON x.indexrelid = ic.oid JOIN pg_class c ON c.oid = x.indrelid
    WHERE h.inhparent = ${parent}::regclass ORDER BY 1`;
}

const rename = { table: 'events', from: 'events_kind_idx', to: 'events_by_kind' };

describe('renaming an index of a partitioned table', () => {
  it('renames it and its partitions’ indexes in one transaction, keeping the index, while a writer holds its transaction open', async () => {
    const [before] = await t.sql<{ oid: number; def: string }[]>`
      SELECT 'events_kind_idx'::regclass::oid::int8 AS oid,
             pg_get_indexdef('events_kind_idx'::regclass) AS def`;
    const children = await indexesOf('events_kind_idx');
    expect(children.map((c) => c.index)).toEqual([
      'events_1_kind_idx',
      'events_2_kind_idx',
      'hand_made',
      'events_default_kind_idx',
    ]);
    // An INSERT not committed: it holds ROW EXCLUSIVE on the table, the partition and its indexes.
    const writer = await openTransaction(t.connect({ max: 1 }), [
      `INSERT INTO events VALUES (1, 999999, 'kind_1')`,
    ]);
    try {
      const plan = await renameIndexOnline(drizzle(t.connect({ max: 1 })), rename, {
        lockTimeoutMs: 200,
        retries: 0,
      });
      expect(plan.statements).toEqual([
        'ALTER INDEX "public"."events_kind_idx" RENAME TO "events_by_kind"',
        'ALTER INDEX "public"."events_1_kind_idx" RENAME TO "events_1_by_kind"',
        'ALTER INDEX "public"."events_2_kind_idx" RENAME TO "events_2_by_kind"',
        'ALTER INDEX "public"."events_default_kind_idx" RENAME TO "events_default_by_kind"',
      ]);
    } finally {
      await writer.commit();
    }
    const [after] = await t.sql<{ oid: number; def: string }[]>`
      SELECT 'events_by_kind'::regclass::oid::int8 AS oid,
             pg_get_indexdef('events_by_kind'::regclass) AS def`;
    expect(after).toEqual({
      oid: before?.oid,
      def: before?.def.replace('events_kind_idx', 'events_by_kind'),
    });
    const renamed = await indexesOf('events_by_kind');
    expect(renamed.map((c) => [c.index, c.oid])).toEqual(
      children.map((c) => [
        c.index === 'hand_made' ? 'hand_made' : c.index.replace('_kind_idx', '_by_kind'),
        c.oid,
      ]),
    );
    const [gone] = await t.sql`SELECT to_regclass('events_kind_idx') AS r`;
    expect(gone?.r).toBeNull();

    // Run again: the new name there, the old one gone: nothing to do.
    const again = await renameIndexOnline(drizzle(t.connect({ max: 1 })), rename);
    expect(again).toMatchObject({ done: true, statements: [] });
  });

  it('refuses when both names exist, or neither, changing nothing', async () => {
    await t.sql`CREATE INDEX events_kind_idx ON events (kind)`;
    const db = drizzle(t.connect({ max: 1 }));
    expectPgpartsError(await rejection(renameIndexOnline(db, rename)), 'refused', {
      message: /events_by_kind exists already beside events_kind_idx on public\.events/,
    });
    expectPgpartsError(
      await rejection(
        renameIndexOnline(db, { table: 'events', from: 'no_such_idx', to: 'nor_this_idx' }),
      ),
      'spec-mismatch',
      { message: /no_such_idx of public\.events, to be renamed nor_this_idx, does not exist/ },
    );
    expect(() =>
      planIndexRename(
        { table: 'events', from: 'a', to: 'a' },
        { from: { partitions: [] }, to: { partitions: [] } },
      ),
    ).toThrow(/from and to are the same name/);
    const [both] = await t.sql`
      SELECT to_regclass('events_kind_idx') IS NOT NULL AS a, to_regclass('events_by_kind') IS NOT NULL AS b`;
    expect(both).toEqual({ a: true, b: true });
  });
});
