import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import { describe, expect, it } from 'vitest';
import { readJournal, readMigrations } from '../../src/migrations/journal.js';
import { MIGRATIONS_FOLDER, migrate, migrateDryRun } from '../../src/migrations/migrate.js';
import { renderOnlineIndexMigration } from '../../src/ops/online-index-migration.js';
import { catalogShape } from '../support/catalog-shape.js';
import { type FolderEntry, writeMigrationFolder } from '../support/migration-folder.js';
import { type TestDatabase, useTestDatabase } from '../support/test-database.js';

const PACKAGE_TAGS = readJournal(MIGRATIONS_FOLDER).map((e) => e.tag);
/**
 * The package's migrations drizzle's migrator can apply: those before its first online index
 * build (0006), which refuses to run outside pgparts migrate. A database migrated by drizzle
 * before pgparts kept its own record has these.
 */
const PACKAGE_MIGRATIONS = readMigrations(MIGRATIONS_FOLDER);
const FIRST_ONLINE = PACKAGE_MIGRATIONS.findIndex((m) => m.online);
const DRIZZLE_ENTRIES: FolderEntry[] = PACKAGE_MIGRATIONS.slice(
  0,
  FIRST_ONLINE < 0 ? undefined : FIRST_ONLINE,
).map(({ tag, when, text }) => ({ tag, when, sql: text }));
const DRIZZLE_TAGS = DRIZZLE_ENTRIES.map((e) => e.tag);
const FIRST_PACKAGE_WHEN = readJournal(MIGRATIONS_FOLDER)[0]?.when ?? 0;
const LAST_PACKAGE_WHEN = readJournal(MIGRATIONS_FOLDER).at(-1)?.when ?? 0;

const appEntry = (tag: string, when: number): FolderEntry => ({
  tag,
  when,
  sql: `CREATE TABLE "${tag}" (id int);`,
});

const upgraded = useTestDatabase({ migrated: false });
const template = useTestDatabase();
const ordered = useTestDatabase({ migrated: false });
const concurrent = useTestDatabase({ migrated: false });
const online = useTestDatabase({ migrated: false });

const count = async (t: TestDatabase, table: string) =>
  (await t.sql.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`))[0]?.n;

describe('a database migrated before pgparts kept its own record', () => {
  it('is recognised: its rows move to pgparts.migrations, nothing is applied again', async () => {
    // What early users have: drizzle's migrator (drizzle-kit migrate) ran drizzle/ as it was.
    const early = writeMigrationFolder(DRIZZLE_ENTRIES);
    await drizzleMigrate(upgraded.db, { migrationsFolder: early });
    expect(await count(upgraded, 'drizzle.__drizzle_migrations')).toBe(DRIZZLE_TAGS.length);
    // Today's folder: drizzle's migrator stops at the online build, saying what to run instead.
    await expect(
      drizzleMigrate(upgraded.db, { migrationsFolder: MIGRATIONS_FOLDER }),
    ).rejects.toMatchObject({
      cause: { message: 'this migration builds indexes online; run it with pgparts migrate' },
    });
    expect(DRIZZLE_TAGS.length).toBeLessThan(PACKAGE_TAGS.length);

    // The dry run counts the carried-over ones as applied, and moves nothing.
    const previews = await migrateDryRun(upgraded.db);
    expect(previews.map((p) => p.name)).toEqual(PACKAGE_TAGS.slice(DRIZZLE_TAGS.length));
    expect(await count(upgraded, 'drizzle.__drizzle_migrations')).toBe(DRIZZLE_TAGS.length);
    const [record] = await upgraded.sql`SELECT to_regclass('pgparts.migrations') AS r`;
    expect(record?.r).toBeNull();

    const result = await migrate(upgraded.db);
    expect(result.carriedOver).toEqual(DRIZZLE_TAGS);
    expect(result.applied.map((a) => a.name)).toEqual(PACKAGE_TAGS.slice(DRIZZLE_TAGS.length));
    expect(await count(upgraded, 'pgparts.migrations')).toBe(PACKAGE_TAGS.length);
    expect(await count(upgraded, 'drizzle.__drizzle_migrations')).toBe(0);
    expect((await migrate(upgraded.db)).carriedOver).toEqual([]);
  });

  it('then equals a fresh install', async () => {
    const a = await catalogShape(upgraded.connect({ max: 1 }));
    const b = await catalogShape(template.connect({ max: 1 }));
    expect(a).toEqual(b);
  });
});

describe('app migrations before, after and between pgparts migrations', () => {
  it('skip nothing, in any order, and drizzle-kit agrees on the app folder', async () => {
    const early = appEntry('app_early', FIRST_PACKAGE_WHEN - 1000);
    const late = appEntry('app_late', LAST_PACKAGE_WHEN + 1000);
    const folder = writeMigrationFolder([early, late]);
    // The app first: its migrations are newer than pgparts's oldest...
    const app = await migrate(ordered.db, { appFolder: folder });
    expect(app.applied.map((a) => a.name)).toEqual(['app_early', 'app_late']);
    // ...and pgparts's are still all applied afterwards (one record could not tell them apart).
    const own = await migrate(ordered.db);
    expect(own.applied.map((a) => a.name)).toEqual(PACKAGE_TAGS);
    // A later app migration, then both folders together: only it runs.
    const later = appEntry('app_later', LAST_PACKAGE_WHEN + 5000);
    writeMigrationFolder([early, late, later], folder);
    const both = await migrate(ordered.db, { appFolder: folder, packageMigrations: true });
    expect(both.applied.map((a) => `${a.source}:${a.name}`)).toEqual(['app:app_later']);
    // drizzle-kit's migrator reads the same record and finds nothing to do.
    await drizzleMigrate(ordered.db, { migrationsFolder: folder });
    expect(await count(ordered, 'drizzle.__drizzle_migrations')).toBe(3);
    expect(await count(ordered, 'pgparts.migrations')).toBe(PACKAGE_TAGS.length);
  });
});

describe('two runners at once', () => {
  it('apply each migration once', async () => {
    const folder = writeMigrationFolder([appEntry('app_one', LAST_PACKAGE_WHEN + 1)]);
    const options = { appFolder: folder, packageMigrations: true };
    const [a, b] = await Promise.all([
      migrate(drizzle(concurrent.connect({ max: 2 })), options),
      migrate(drizzle(concurrent.connect({ max: 2 })), options),
    ]);
    const applied = [...(a?.applied ?? []), ...(b?.applied ?? [])].map((m) => m.name).sort();
    expect(applied).toEqual([...PACKAGE_TAGS, 'app_one'].sort());
    expect(await count(concurrent, 'pgparts.migrations')).toBe(PACKAGE_TAGS.length);
    expect(await count(concurrent, 'drizzle.__drizzle_migrations')).toBe(1);
  });
});

describe('an online migration (-- pgparts:online)', () => {
  const tableSql = [
    'CREATE TABLE "measures" ("id" int NOT NULL, "takenAt" timestamptz NOT NULL) PARTITION BY RANGE ("takenAt")',
    `CREATE TABLE "measures_old" PARTITION OF "measures" FOR VALUES FROM ('2020-01-01') TO ('2025-01-01')`,
    `CREATE TABLE "measures_new" PARTITION OF "measures" FOR VALUES FROM ('2025-01-01') TO ('2030-01-01')`,
    `INSERT INTO "measures" SELECT i, timestamptz '2021-01-01' + i * interval '1 day' FROM generate_series(1, 2000) i`,
  ].join(';\n--> statement-breakpoint\n');
  const indexSql = renderOnlineIndexMigration([
    {
      table: 'measures',
      name: 'measures_taken_idx',
      columns: [{ column: 'takenAt', order: 'desc' }],
    },
  ]);
  const entries = [
    { tag: 'measures_table', when: 10, sql: `${tableSql};\n` },
    { tag: 'measures_index', when: 20, sql: indexSql },
  ];

  it('fails under drizzle-kit migrate before changing anything, with the way out', async () => {
    const folder = writeMigrationFolder(entries);
    const failure = await drizzleMigrate(online.db, { migrationsFolder: folder }).catch(
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(Error);
    expect(String((failure as { cause?: unknown }).cause ?? failure)).toContain(
      'run it with pgparts migrate',
    );
    // drizzle's migrator runs every pending migration in one transaction: nothing is left.
    const [row] = await online.sql`SELECT to_regclass('public.measures') AS t`;
    expect(row?.t).toBeNull();
  });

  it('builds the index online under pgparts migrate, valid on every partition, then records it', async () => {
    const folder = writeMigrationFolder(entries);
    const result = await migrate(online.db, { appFolder: folder });
    expect(result.applied.map((a) => a.name)).toEqual(['measures_table', 'measures_index']);
    const indexes = await online.sql<{ table: string; valid: boolean; indoption: string }[]>`
      SELECT c.relname AS table, x.indisvalid AS valid, x.indoption::text AS indoption
      FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
      WHERE c.relname IN ('measures', 'measures_old', 'measures_new')
        AND pg_get_indexdef(x.indexrelid) LIKE '%"takenAt" DESC%'
      ORDER BY 1`;
    expect(indexes).toEqual([
      { table: 'measures', valid: true, indoption: '3' },
      { table: 'measures_new', valid: true, indoption: '3' },
      { table: 'measures_old', valid: true, indoption: '3' },
    ]);
    expect(await count(online, 'drizzle.__drizzle_migrations')).toBe(2);
    // The session setting does not outlive the run.
    const [setting] = await online.sql`SELECT current_setting('pgparts.migrate', true) AS v`;
    expect(setting?.v ?? '').toBe('');
    expect((await migrate(online.db, { appFolder: folder })).applied).toEqual([]);
  });
});
