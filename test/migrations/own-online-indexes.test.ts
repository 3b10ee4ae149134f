import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/migrations/generate.js';
import { readJournal } from '../../src/migrations/journal.js';
import { MIGRATIONS_FOLDER, migrate } from '../../src/migrations/migrate.js';
import {
  onlineIndexDirectives,
  parseOnlineIndexMigration,
} from '../../src/ops/online-index-migration.js';
import { partitionIndexName } from '../../src/ops/online-index-sql.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * pgparts's own schema changes go through the same `pgparts generate` as an app's: a new index on
 * one of the built-in partitioned tables, and a changed one, come out as an online build, not
 * as drizzle-kit's plain CREATE INDEX. Run on a copy of the repository's schema, drizzle/ and
 * configs (the committed drizzle/ stays as it is); the result migrates a fresh database.
 */
const root = resolve(import.meta.dirname, '..', '..');
const copy = mkdtempSync(join(tmpdir(), 'pgparts-own-'));
for (const entry of [
  'src',
  'drizzle',
  'drizzle.config.ts',
  'pgparts.config.ts',
  'package.json',
  'tsconfig.json',
]) {
  cpSync(join(root, entry), join(copy, entry), { recursive: true });
}
symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
afterAll(() => rmSync(copy, { recursive: true, force: true }));
const db = useTestDatabase({ migrated: false });
const out = join(copy, 'drizzle');

describe("pgparts's own index changes", { timeout: 300_000 }, () => {
  let online: ReturnType<typeof parseOnlineIndexMigration> = [];

  it('are written as an online build; the changed index is replaced online, its DROP INDEX taken out', async () => {
    const tables = join(copy, 'src', 'domains', 'killmails', 'tables.ts');
    const before = readFileSync(tables, 'utf8');
    const edited = before
      .replace(
        "    index('idx_killmails_raw_ship_type_time')",
        "    index('idx_killmails_raw_inserted_at').on(t.insertedAt),\n" +
          "    index('idx_killmails_raw_payload').using('gin', t.rawPayload.op('jsonb_path_ops')),\n" +
          "    index('idx_killmails_raw_big_systems').on(t.systemId).where(sql`$" +
          '{t.systemId} > 30000000`),\n' +
          "    index('idx_killmails_raw_ship_type_time')",
      )
      .replace(
        "index('idx_killmails_enriched_isk_value').on(t.iskValue, t.killmailTime)",
        "index('idx_killmails_enriched_isk_value').on(t.iskValue.desc(), t.killmailTime)",
      );
    expect(edited).not.toBe(before);
    writeFileSync(tables, edited);
    const journaled = readJournal(out).map((e) => e.tag);
    const texts = journaled.map((tag) => readFileSync(join(out, `${tag}.sql`), 'utf8'));

    const result = await generate({ cwd: copy, config: 'pgparts.config.ts' });
    // drizzle-kit's file held the CREATE INDEX statements and the changed index's DROP INDEX
    // only: with them taken out, the file itself is the online migration.
    expect(result.written).toHaveLength(1);
    const [onlineTag = ''] = result.written;
    const next = readJournal(MIGRATIONS_FOLDER).length;
    expect(onlineTag.startsWith(String(next).padStart(4, '0'))).toBe(true);
    const body = readFileSync(join(out, `${onlineTag}.sql`), 'utf8');
    expect(body).not.toContain('DROP INDEX');
    // The changed index is replaced online (built beside the old one, then swapped in).
    expect(
      onlineIndexDirectives(body).map((d) => (d.kind === 'build' ? [d.spec.name, d.replace] : d)),
    ).toEqual([
      ['idx_killmails_raw_inserted_at', false],
      ['idx_killmails_raw_payload', false],
      ['idx_killmails_raw_big_systems', false],
      ['idx_killmails_enriched_isk_value', true],
    ]);
    online = parseOnlineIndexMigration(body);
    expect(online).toEqual([
      {
        table: { schema: 'public', name: 'killmails_raw' },
        name: 'idx_killmails_raw_inserted_at',
        columns: [{ column: 'inserted_at' }],
        unique: false,
        include: [],
      },
      {
        table: { schema: 'public', name: 'killmails_raw' },
        name: 'idx_killmails_raw_payload',
        columns: [{ column: 'raw_payload', opclass: 'jsonb_path_ops' }],
        unique: false,
        include: [],
        using: 'gin',
      },
      {
        table: { schema: 'public', name: 'killmails_raw' },
        name: 'idx_killmails_raw_big_systems',
        columns: [{ column: 'system_id' }],
        unique: false,
        include: [],
        where: '"system_id" > 30000000',
      },
      {
        table: { schema: 'public', name: 'killmails_enriched' },
        name: 'idx_killmails_enriched_isk_value',
        columns: [
          { column: 'isk_value', order: 'desc', nulls: 'last' },
          { column: 'killmail_time' },
        ],
        unique: false,
        include: [],
      },
    ]);
    // Append-only: every earlier migration byte-identical.
    journaled.forEach((tag, i) => {
      expect(readFileSync(join(out, `${tag}.sql`), 'utf8'), tag).toBe(texts[i]);
    });
    expect((await generate({ cwd: copy, config: 'pgparts.config.ts' })).written).toEqual([]);
  });

  it('a fresh database migrated through them has each index valid and on every partition', async () => {
    const result = await migrate(db.db, { appFolder: out });
    expect(result.applied).toHaveLength(readJournal(out).length);
    for (const spec of online) {
      const parts = await db.sql<
        { partition: string; index: string | null; valid: boolean | null }[]
      >`
        SELECT c.relname AS partition, ic.relname AS index, x.indisvalid AS valid
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        LEFT JOIN pg_inherits pi ON pi.inhparent = ${spec.name}::regclass
        LEFT JOIN pg_index x ON x.indexrelid = pi.inhrelid AND x.indrelid = c.oid
        LEFT JOIN pg_class ic ON ic.oid = x.indexrelid
        WHERE i.inhparent = ${spec.table.name}::regclass AND x.indexrelid IS NOT NULL
        ORDER BY 1`;
      const partitions = await db.sql<{ name: string }[]>`
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = ${spec.table.name}::regclass ORDER BY 1`;
      expect(partitions.length).toBeGreaterThan(10);
      // The build's own names: the indexes came from the online path.
      expect(parts).toEqual(
        partitions.map((p) => ({
          partition: p.name,
          index: partitionIndexName(spec, p.name),
          valid: true,
        })),
      );
      const [parent] = await db.sql`
        SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = ${spec.name}::regclass`;
      expect(parent?.valid, spec.name).toBe(true);
    }
  });
});
