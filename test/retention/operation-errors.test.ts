import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { PgpartsError } from '../../src/errors.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireKey, unretireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { asOperationError, pgErrorCode } from '../../src/run/pg-error.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

describe('what an exported operation throws has a code', () => {
  it('a server error becomes query-failed with the server’s words and SQLSTATE; others pass through', () => {
    const server = Object.assign(new Error('column reference "k" is ambiguous'), {
      code: '42702',
    });
    const driver = new Error('Failed query: SELECT ...', { cause: server });
    const e = expectPgpartsError(asOperationError('drain', driver), 'query-failed', {
      message: 'pgparts: drain: column reference "k" is ambiguous (SQLSTATE 42702)',
      step: 'drain',
    });
    expect(pgErrorCode(e)).toBe('42702');
    const refused = new PgpartsError('refused', 'pgparts: no');
    expect(asOperationError('drain', refused)).toBe(refused);
    const plain = new TypeError('x');
    expect(asOperationError('drain', plain)).toBe(plain);
  });

  it('reattach of a key whose partition name is taken again: query-failed (42P07), the archived rows kept', async () => {
    const notes = parseFamily({
      name: 'oe_notes',
      tables: ['oe_notes'],
      partitionBy: { strategy: 'list', column: 'n', values: [1, 2] },
      retention: { keep: 1, mode: 'archive' },
    });
    await t.sql.unsafe(`
      CREATE TABLE oe_notes (id bigint NOT NULL, n int NOT NULL, PRIMARY KEY (id, n)) PARTITION BY LIST (n)`);
    expect((await apply(t.db, { families: [notes] })).failed).toBe(0);
    await t.sql.unsafe('INSERT INTO oe_notes SELECT g, 1 FROM generate_series(1, 50) g');
    const one = { kind: 'list', value: 1 } as const;
    const retired = await retireKey(t.db, notes, one, { force: true });
    expect(retired).toMatchObject({ status: 'retired', mode: 'archive' });
    const archived = await tableDigest(t.sql, 'pgparts_archive.oe_notes_s1', ['id', 'n']);
    expect(archived.rows).toBe(50);
    // A table under the partition's name appears meanwhile.
    await t.sql.unsafe('CREATE TABLE oe_notes_s1 (x int)');
    expectPgpartsError(await rejection(reattachKey(t.db, notes, one)), 'query-failed', {
      message: /pgparts: reattach: .*"oe_notes_s1" already exists.*\(SQLSTATE 42P07\)/,
      step: 'reattach',
    });
    expect(await tableDigest(t.sql, 'pgparts_archive.oe_notes_s1', ['id', 'n'])).toEqual(archived);
  });
  it('unretire of an archived key is refused while its archived tables hold its rows; reattach brings them back', async () => {
    const notes = parseFamily({
      name: 'oe_notes',
      tables: ['oe_notes'],
      partitionBy: { strategy: 'list', column: 'n', values: [1, 2] },
      retention: { keep: 1, mode: 'archive' },
    });
    await t.sql.unsafe('INSERT INTO oe_notes SELECT g, 2 FROM generate_series(1, 30) g');
    const two = { kind: 'list', value: 2 } as const;
    expect(await retireKey(t.db, notes, two, { force: true })).toMatchObject({ mode: 'archive' });
    const archived = await tableDigest(t.sql, 'pgparts_archive.oe_notes_s2', ['id', 'n']);
    expect(archived.rows).toBe(30);
    expectPgpartsError(await rejection(unretireKey(t.db, notes, two)), 'refused', {
      message: /its rows are archived in pgparts_archive\.oe_notes_s2; reattach brings them back/,
    });
    const [record] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_retired_keys WHERE family = 'oe_notes' AND key = '2'`;
    expect(record?.n).toBe(1);
    expect((await reattachKey(t.db, notes, two)).partitions).toHaveLength(1);
    expect(await tableDigest(t.sql, 'oe_notes', ['id', 'n'], 'n = 2')).toEqual(archived);
  });

  it('unretire while another session holds the key names unretire, and changes nothing', async () => {
    const notes = parseFamily({
      name: 'oe_notes',
      tables: ['oe_notes'],
      partitionBy: { strategy: 'list', column: 'n', values: [1, 2] },
      retention: { keep: 1, mode: 'archive' },
    });
    const holder = t.connect({ max: 1 });
    const [held] = await holder<{ ok: boolean }[]>`
      SELECT pg_try_advisory_lock(hashtext('pgparts:key:public.oe_notes'), hashtext('1')) AS ok`;
    expect(held?.ok).toBe(true);
    const before = await t.sql<{ key: string }[]>`
      SELECT key FROM pgparts_retired_keys WHERE family = 'oe_notes' ORDER BY key`;
    try {
      expectPgpartsError(
        await rejection(unretireKey(t.db, notes, { kind: 'list', value: 1 })),
        'busy',
        {
          message:
            /unretire: family oe_notes, key 1: another pgparts operation is working on this key right now/,
          step: 'unretire',
        },
      );
    } finally {
      await holder.end();
    }
    expect(
      await t.sql<{ key: string }[]>`
        SELECT key FROM pgparts_retired_keys WHERE family = 'oe_notes' ORDER BY key`,
    ).toEqual(before);
  });
});

describe('unretire of an archived key whose archived table is empty', () => {
  it('says the tables still exist, empty, rather than that rows are archived', async () => {
    const memos = parseFamily({
      name: 'oe_memos',
      tables: ['oe_memos'],
      partitionBy: { strategy: 'list', column: 'n', values: [1, 2] },
      retention: { keep: 1, mode: 'archive' },
    });
    await t.sql`CREATE TABLE oe_memos (id int NOT NULL, n int NOT NULL, PRIMARY KEY (id, n)) PARTITION BY LIST (n)`;
    expect((await apply(t.db, { families: [memos] })).failed).toBe(0);
    const one = { kind: 'list', value: 1 } as const;
    expect(await retireKey(t.db, memos, one, { force: true })).toMatchObject({ mode: 'archive' });
    expectPgpartsError(await rejection(unretireKey(t.db, memos, one)), 'refused', {
      message:
        /its archived tables pgparts_archive\.oe_memos_s1 still exist \(empty\); reattach brings them back .* or drop those tables first/,
    });
    await t.sql`DROP TABLE pgparts_archive.oe_memos_s1`;
    expect(await unretireKey(t.db, memos, one)).toBe(true);
  });
});
