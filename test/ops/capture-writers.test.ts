import { randomBytes } from 'node:crypto';
import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { convertBackfill } from '../../src/ops/convert/backfill.js';
import { convertFill } from '../../src/ops/convert/fill.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const WRITER = `pgparts_writer_${randomBytes(4).toString('hex')}`;

/**
 * An app role that may only read and write its tables keeps writing while a drain or a
 * conversion captures its changes: the capture trigger logs them into pgparts's log, which that
 * role has no right to; it runs as the role that made the log. (It ran as the writer: every
 * write into DEFAULT during a drain, and every write to a table being converted from fill to
 * cleanup, failed with permission denied.)
 */
let writer: ReturnType<typeof t.connect>;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE ROLE ${WRITER} LOGIN PASSWORD 'w';
    CREATE TABLE docs (id bigint NOT NULL, tenant int NOT NULL, body text, PRIMARY KEY (tenant, id))
      PARTITION BY LIST (tenant);
    CREATE TABLE notes (id bigint NOT NULL, tenant int NOT NULL, body text, PRIMARY KEY (id, tenant));
    GRANT SELECT, INSERT, UPDATE, DELETE ON docs, notes TO ${WRITER};`);
  writer = t.connect({ max: 1, username: WRITER, password: 'w' });
});

afterAll(async () => {
  await writer?.end();
});

describe('a writer with only DML rights', () => {
  it('writes into DEFAULT during a drain; every write is in the result', async () => {
    const one = parseFamily({
      name: 'docs',
      tables: ['docs'],
      partitionBy: { strategy: 'list', column: 'tenant', values: [1] },
      defaultPartition: true,
    });
    expect((await apply(t.db, { families: [one] })).failed).toBe(0);
    await t.sql.unsafe(`INSERT INTO docs SELECT g, 1 + g % 2, 'x' FROM generate_series(1, 2000) g`);
    // A plain copy that gets the same writes: what the partitioned table must hold after.
    await t.sql.unsafe('CREATE TABLE docs_mirror AS SELECT * FROM docs');
    const writes = (table: string) => `
      INSERT INTO ${table} VALUES (5001, 2, 'new'), (5002, 3, 'other');
      UPDATE ${table} SET body = 'changed' WHERE id = 3 AND tenant = 2;
      DELETE FROM ${table} WHERE id = 5 AND tenant = 2;`;
    const two = parseFamily({ ...one, partitionBy: { ...one.partitionBy, values: [1, 2] } });
    let wrote = false;
    const result = await drainKey(
      t.db,
      two,
      { kind: 'list', value: 2 },
      {
        batchPages: 1,
        sideBySide: false,
        onProgress: async (progress) => {
          if (progress.phase !== 'copy' || wrote) return;
          wrote = true;
          await writer.unsafe(writes('docs'));
          await t.sql.unsafe(writes('docs_mirror'));
        },
      },
    );
    expect(wrote).toBe(true);
    expect(result.status).toBe('drained');
    const [moved] = await t.sql<{ n: number; changed: number; gone: number }[]>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE body = 'changed')::int AS changed,
             count(*) FILTER (WHERE id = 5)::int AS gone
      FROM docs WHERE tenant = 2 AND tableoid <> 'docs_default'::regclass`;
    expect(moved).toEqual({ n: 1000, changed: 1, gone: 0 });
    expect(await tableDigest(t.sql, 'docs', ['id', 'tenant'])).toEqual(
      await tableDigest(t.sql, 'docs_mirror', ['id', 'tenant']),
    );
  });

  it('writes to a table being converted, after fill began; the twin gets every write', async () => {
    await t.sql.unsafe(`INSERT INTO notes SELECT g, 1 + g % 2, 'x' FROM generate_series(1, 500) g`);
    const notes = pgTable(
      'notes',
      {
        id: bigint('id', { mode: 'number' }).notNull(),
        tenant: integer('tenant').notNull(),
        body: text('body'),
      },
      (x) => [primaryKey({ columns: [x.id, x.tenant] })],
    );
    const family = parseFamily({
      name: 'notes',
      tables: ['notes'],
      partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2] },
    });
    const target = conversionTarget({ family, tables: [notes] });
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    await writer.unsafe(`
      INSERT INTO notes VALUES (9001, 1, 'new');
      UPDATE notes SET body = 'changed' WHERE id = 2;
      DELETE FROM notes WHERE id = 4;`);
    await convertFill(t.db, target);
    expect(await tableDigest(t.sql, 'pgparts_notes_new.notes', ['id', 'tenant'])).toEqual(
      await tableDigest(t.sql, 'notes', ['id', 'tenant']),
    );
  });
});
