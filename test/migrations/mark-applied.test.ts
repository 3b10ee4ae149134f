import { migrate as drizzleMigrate } from 'drizzle-orm/postgres-js/migrator';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { writeMigrationFolder } from '../support/migration-folder.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * What an app builds outside its migrations (tables an online conversion made) has migrations
 * that would create it again and fail ("already exists"). `markApplied` records them as applied
 * without running them, as drizzle's migrator records a file it ran, and applies the others.
 */
const folder = writeMigrationFolder([
  { tag: '0000_first', when: 1_700_000_000_000, sql: 'CREATE TABLE first (id int);' },
  { tag: '0001_orders', when: 1_700_000_001_000, sql: 'CREATE TABLE orders (id int);' },
  { tag: '0002_third', when: 1_700_000_002_000, sql: 'CREATE TABLE third (id int);' },
]);

describe('migrate with markApplied', () => {
  it('refuses a tag the folder does not have, applying nothing', async () => {
    expectPgpartsError(
      await rejection(migrate(t.db, { appFolder: folder, markApplied: ['0001_order'] })),
      'invalid-input',
      { message: /no migration 0001_order in .*nothing was applied/ },
    );
    const [first] = await t.sql<{ t: string | null }[]>`SELECT to_regclass('first')::text AS t`;
    expect(first?.t).toBeNull();
  });

  it('records the marked one without running it and applies the others; nothing is pending after', async () => {
    // Built outside the migrations, with a column the migration does not have.
    await t.sql.unsafe('CREATE TABLE orders (id int, built_by text)');
    const result = await migrate(t.db, { appFolder: folder, markApplied: ['0001_orders'] });
    expect(result.applied.map((a) => a.name)).toEqual(['0000_first', '0002_third']);
    expect(result.marked).toEqual([{ source: 'app', name: '0001_orders' }]);
    const [built] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM information_schema.columns
      WHERE table_name = 'orders' AND column_name = 'built_by'`;
    expect(built?.n).toBe(1);
    const again = await migrate(t.db, { appFolder: folder, markApplied: ['0001_orders'] });
    expect([again.applied, again.marked]).toEqual([[], []]);
    // drizzle's own migrator reads the same record and finds nothing to run either.
    await drizzleMigrate(t.db as never, { migrationsFolder: folder });
    const [rows] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    expect(rows?.n).toBe(3);
  });
});
