import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { month2026 as month } from '../support/month-key.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * The key between a retired month's archived tables is the family's key, pointing at the archived
 * table: every option of it, down to a SET NULL of some columns only (PostgreSQL 15+).
 */
const t = useTestDatabase({ migrated: false });
const family = parseFamily({
  name: 'ledger',
  tables: ['ledger_books', 'ledger_entries'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0, past: 1 },
  retention: { keep: 12, mode: 'archive' },
});

let version = 0;
beforeAll(async () => {
  const [row] = await t.sql<{ v: number }[]>`
    SELECT current_setting('server_version_num')::int AS v`;
  version = row?.v ?? 0;
  // SET NULL of the book column only: `at` is the partition key and stays (before 15: CASCADE).
  const onDelete = version >= 150000 ? 'ON DELETE SET NULL (book_id)' : 'ON DELETE CASCADE';
  await t.sql.unsafe(`
    CREATE TABLE ledger_books (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);
    CREATE TABLE ledger_entries (id bigint NOT NULL, book_id bigint, at timestamptz NOT NULL,
      PRIMARY KEY (id, at),
      CONSTRAINT ledger_entries_book_fk FOREIGN KEY (book_id, at) REFERENCES ledger_books (id, at)
        MATCH SIMPLE ${onDelete} ON UPDATE RESTRICT DEFERRABLE)
      PARTITION BY RANGE (at);`);
  expect((await apply(t.db, { families: [family], now: new Date('2026-02-15Z') })).ok).toBe(true);
  await t.sql.unsafe(`
    INSERT INTO ledger_books VALUES (1, '2026-01-05Z'), (2, '2026-01-06Z');
    INSERT INTO ledger_entries VALUES (10, 1, '2026-01-05Z'), (11, 2, '2026-01-06Z');`);
  expect((await retireKey(t.db, family, month(1), { mode: 'archive' })).status).toBe('retired');
});

describe('an archived key', () => {
  it("is the family key's definition, pointing at the archived table", async () => {
    const defs = async (table: string) =>
      (
        await t.sql<{ def: string }[]>`
          SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
          WHERE conrelid = ${table}::regclass AND contype = 'f'`
      ).map((r) => r.def);
    const [parent] = await defs('public.ledger_entries');
    expect(parent).toContain(version >= 150000 ? 'SET NULL (book_id)' : 'CASCADE');
    expect(await defs('pgparts_archive.ledger_entries_2026_01')).toEqual([
      parent?.replace(
        'REFERENCES ledger_books(',
        'REFERENCES pgparts_archive.ledger_books_2026_01(',
      ),
    ]);
  });

  it("acts as it did: deleting an archived book sets its entries' book to NULL (before 15: deletes them)", async () => {
    await t.sql`DELETE FROM pgparts_archive.ledger_books_2026_01 WHERE id = 1`;
    const rows = await t.sql<{ id: number; book: number | null; at: string }[]>`
      SELECT id::int, book_id::int AS book, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS at FROM pgparts_archive.ledger_entries_2026_01 ORDER BY id`;
    expect(rows.map((r) => [r.id, r.book, r.at])).toEqual([
      ...(version >= 150000 ? [[10, null, '2026-01-05']] : []),
      [11, 2, '2026-01-06'],
    ]);
  });
});
