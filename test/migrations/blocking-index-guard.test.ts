import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { type FolderEntry, writeMigrationFolder } from '../support/migration-folder.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * migrate refuses what generate refuses: a pending drizzle-kit file with a plain CREATE INDEX on a
 * partitioned table, which builds every partition's index while their writers wait. Refused when
 * the table holds data, before anything is applied; an empty table's build runs as written.
 */
const t = useTestDatabase({ migrated: false });
/** A new database: every table is created by the run that indexes it. */
const fresh = useTestDatabase({ migrated: false });
const folders: string[] = [];
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});
const folderOf = (entries: FolderEntry[]) => {
  const folder = writeMigrationFolder(entries);
  folders.push(folder);
  return folder;
};

const tables: FolderEntry = {
  tag: '0000_tables',
  when: 1_700_000_000_000,
  sql: [
    'CREATE TABLE "events" ("id" bigint NOT NULL, "kind" text NOT NULL) PARTITION BY RANGE ("id")',
    'CREATE TABLE "events_low" PARTITION OF "events" FOR VALUES FROM (0) TO (1000)',
    'CREATE TABLE "events_high" PARTITION OF "events" FOR VALUES FROM (1000) TO (2000)',
    'CREATE TABLE "quiet_events" ("id" bigint NOT NULL, "kind" text) PARTITION BY LIST ("id")',
    'CREATE TABLE "quiet_events_1" PARTITION OF "quiet_events" FOR VALUES IN (1)',
    'CREATE TABLE "notes" ("id" bigint NOT NULL, "body" text)',
  ].join(';\n--> statement-breakpoint\n'),
};
const indexes: FolderEntry = {
  tag: '0001_kind_indexes',
  when: 1_700_000_001_000,
  sql: [
    'CREATE INDEX "notes_body_idx" ON "notes" USING btree ("body")',
    'CREATE INDEX "events_kind_idx" ON "events" USING btree ("kind")',
    'CREATE INDEX "quiet_events_kind_idx" ON "quiet_events" USING btree ("kind")',
  ].join(';\n--> statement-breakpoint\n'),
};

async function indexNames(): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT relname AS name FROM pg_class
    WHERE relname IN ('notes_body_idx', 'events_kind_idx', 'quiet_events_kind_idx') ORDER BY 1`;
  return rows.map((r) => r.name);
}

async function recorded(): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
  return row?.n ?? 0;
}

describe('migrate and a plain CREATE INDEX on a partitioned table', () => {
  it('builds it on tables with no rows: a new database migrates the same files as written', async () => {
    const result = await migrate(fresh.db, { appFolder: folderOf([tables, indexes]) });
    expect(result.applied.map((m) => m.name)).toEqual(['0000_tables', '0001_kind_indexes']);
    const [row] = await fresh.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_class
      WHERE relname IN ('notes_body_idx', 'events_kind_idx', 'quiet_events_kind_idx')`;
    expect(row?.n).toBe(3);
  });

  it('refuses it on a table that holds data, before applying anything, naming file, statement and size', async () => {
    await migrate(t.db, { appFolder: folderOf([tables]) });
    await t.sql`INSERT INTO events SELECT g, 'k' || (g % 7) FROM generate_series(1, 1500) g`;
    await t.sql`INSERT INTO notes SELECT g, 'n' FROM generate_series(1, 10) g`;
    const folder = folderOf([tables, indexes]);

    const error = await rejection(migrate(t.db, { appFolder: folder }));
    const e = expectPgpartsError(error, 'migration', {
      message:
        /^pgparts: migrate: a pending migration builds an index on a partitioned table that holds data/,
    });
    // The partitioned table with rows is named; the empty one and the plain table are not.
    expect(e.message).toContain(
      `app 0001_kind_indexes (${folder}/0001_kind_indexes.sql): CREATE INDEX "events_kind_idx" ON "events" USING btree ("kind");\n    (events: 2 partition(s), `,
    );
    expect(e.message).not.toContain('quiet_events');
    expect(e.message).not.toContain('notes_body_idx');
    expect(e.message).toContain('Nothing was applied.');
    expect(e.message).toContain('--allow-blocking-indexes');
    expect(await indexNames()).toEqual([]);
    expect(await recorded()).toBe(1);

    const applied = await migrate(t.db, { appFolder: folder, allowBlockingIndexes: true });
    expect(applied.applied.map((m) => m.name)).toEqual(['0001_kind_indexes']);
    expect(await indexNames()).toEqual([
      'events_kind_idx',
      'notes_body_idx',
      'quiet_events_kind_idx',
    ]);
    expect(await recorded()).toBe(2);
  });
});
