import { describe, expect, it } from 'vitest';
import { migrate, migrateDryRun } from '../../src/migrations/migrate.js';
import { renderOnlineIndexMigration } from '../../src/ops/online-index-migration.js';
import { type FolderEntry, writeMigrationFolder } from '../support/migration-folder.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * migrate's dry run: every pending migration with its statements, an online one planned from the
 * catalog as it is now, and nothing changed (no record table, no carry-over, no migration run).
 */
const t = useTestDatabase({ migrated: false });

const tables: FolderEntry = {
  tag: '0000_events',
  when: 1_700_000_000_000,
  sql: [
    'CREATE TABLE events (tenant_id int NOT NULL, id bigint NOT NULL, kind text) PARTITION BY LIST (tenant_id);',
    'CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);',
    'CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);',
    'CREATE INDEX events_kind_idx ON events (kind);',
    'CREATE INDEX events_id_idx ON events (id);',
    'CREATE INDEX events_old_idx ON events (tenant_id, id);',
  ].join('\n--> statement-breakpoint\n'),
};
const online: FolderEntry = {
  tag: '0001_indexes',
  when: 1_700_000_001_000,
  sql: renderOnlineIndexMigration([
    { rename: { table: 'events', from: 'events_id_idx', to: 'events_by_id' } },
    { replace: { table: 'events', name: 'events_kind_idx', columns: ['kind', 'id'] } },
    { drop: { table: 'events', name: 'events_old_idx' } },
  ]),
};

async function catalog() {
  return t.sql<{ name: string; def: string }[]>`
    SELECT c.relname AS name, pg_get_indexdef(c.oid) AS def FROM pg_class c
    WHERE c.relkind IN ('i', 'I') AND c.relnamespace = 'public'::regnamespace ORDER BY 1`;
}

describe('migrate --dry-run', () => {
  it('on a new database: lists every migration and changes nothing; an online one after them is planned when it runs', async () => {
    const folder = writeMigrationFolder([tables, online]);
    const previews = await migrateDryRun(t.db, { appFolder: folder });
    expect(previews.map((p) => [p.name, p.how])).toEqual([
      ['0000_events', 'transaction'],
      ['0001_indexes', 'online'],
    ]);
    expect(previews[0]?.statements[0]).toMatch(/^CREATE TABLE events \(/);
    expect(previews[1]?.statements.join('\n')).toContain(
      'events_id_idx: planned when it runs, after the pending migrations before it',
    );
    // A tag to mark that no folder has is refused, as migrate refuses it.
    expectPgpartsError(
      await rejection(migrateDryRun(t.db, { appFolder: folder, markApplied: ['0009_nope'] })),
      'invalid-input',
      { message: /no migration 0009_nope in / },
    );
    const [nothing] = await t.sql`
      SELECT to_regclass('events') AS events, to_regnamespace('drizzle') AS record`;
    expect(nothing).toEqual({ events: null, record: null });
  });

  it('prints the exact statements of each directive from the catalog, then migrate does what it said', async () => {
    const folder = writeMigrationFolder([tables]);
    expect((await migrate(t.db, { appFolder: folder })).applied).toHaveLength(1);
    writeMigrationFolder([tables, online], folder);
    const before = await catalog();
    const [records] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;

    const previews = await migrateDryRun(t.db, { appFolder: folder });
    expect(previews.map((p) => [p.name, p.how])).toEqual([['0001_indexes', 'online']]);
    const text = previews[0]?.statements.join('\n') ?? '';
    expect(text).toContain('ALTER INDEX "public"."events_id_idx" RENAME TO "events_by_id";');
    expect(text).toContain('ALTER INDEX "public"."events_1_id_idx" RENAME TO "events_1_by_id";');
    expect(text).toContain(
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_1_kind_idx_pgparts_new" ON "public"."events_1" ("kind", "id");',
    );
    expect(text).toContain('it replaces public.events_kind_idx, which stays in use until the swap');
    expect(text).toMatch(/BEGIN; DROP INDEX IF EXISTS "public"\."events_kind_idx"; .*; COMMIT;/);
    expect(text).toContain('DROP INDEX IF EXISTS "public"."events_old_idx";');
    // Nothing changed: the indexes, the record.
    expect(await catalog()).toEqual(before);
    const [after] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    expect(after?.n).toBe(records?.n);

    expect((await migrate(t.db, { appFolder: folder })).applied).toHaveLength(1);
    const names = (await catalog()).map((i) => i.name);
    expect(names).toContain('events_by_id');
    expect(names).not.toContain('events_old_idx');
    expect((await catalog()).find((i) => i.name === 'events_kind_idx')?.def).toContain(
      '(kind, id)',
    );
    expect(await migrateDryRun(t.db, { appFolder: folder })).toEqual([]);
  });
});

describe('a drop line', () => {
  it("drops only an index of its own table: another table's index of that name is refused, nothing dropped", async () => {
    await t.sql.unsafe(`
      CREATE TABLE other (tenant_id int NOT NULL, id bigint NOT NULL) PARTITION BY LIST (tenant_id);
      CREATE TABLE other_1 PARTITION OF other FOR VALUES IN (1);
      CREATE INDEX other_id_idx ON other (id);`);
    const folder = writeMigrationFolder([
      {
        tag: '0000_drop',
        when: 1_700_000_005_000,
        sql: renderOnlineIndexMigration([{ drop: { table: 'events', name: 'other_id_idx' } }]),
      },
    ]);
    // The dry run refuses it the same way.
    expectPgpartsError(await rejection(migrateDryRun(t.db, { appFolder: folder })), 'refused', {
      message:
        /other_id_idx, to be dropped as an index of public\.events, is not one of its indexes/,
    });
    expectPgpartsError(await rejection(migrate(t.db, { appFolder: folder })), 'refused', {
      message:
        /other_id_idx, to be dropped as an index of public\.events, is not one of its indexes/,
    });
    const [kept] = await t.sql`SELECT to_regclass('other_id_idx') IS NOT NULL AS kept`;
    expect(kept?.kept).toBe(true);
  });
});
