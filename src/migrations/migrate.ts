import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import { checkDatabase } from '../run/check-database.js';
import type { AnyPgDatabase } from '../run/database.js';
import { asOperation } from '../run/pg-error.js';
import { preflightPrivileges } from '../run/privileges.js';
import { createdSchemas } from './created-schemas.js';
import { readJournal, readMigrations } from './journal.js';
import { DRIZZLE_RECORD, PACKAGE_RECORD } from './migration-record.js';
import { type MigrationPreview, previewMigrations } from './preview.js';
import {
  type MigrationSource,
  type RunMigrationsOptions,
  type RunMigrationsResult,
  runMigrations,
} from './runner.js';

/** The migrations shipped with the package (drizzle/ at the package root). */
export const MIGRATIONS_FOLDER = join(packageRoot(), 'drizzle');

export interface MigrateOptions extends RunMigrationsOptions {
  /** The app's migrations folder (its drizzle.config `out`); after pgparts's own when both run. */
  appFolder?: string;
  /** Where the app's migrations are recorded; drizzle-kit's default: drizzle.__drizzle_migrations. */
  appMigrationsSchema?: string;
  appMigrationsTable?: string;
  /**
   * Apply pgparts's own migrations (the built-in leaderboard and killmail tables, recorded in
   * pgparts.migrations). Default: true without `appFolder`, false with it.
   */
  packageMigrations?: boolean;
}

/**
 * Applies pending migrations, one by one under an advisory lock (runner.ts): pgparts's own folder
 * and/or the app's. Refuses PostgreSQL older than 14. Resolves to what it applied.
 */
export async function migrate(
  db: AnyPgDatabase,
  options: MigrateOptions = {},
): Promise<RunMigrationsResult> {
  checkDatabase('migrate', db);
  const sources = migrationSources(options);
  // The grants the records and the migrations need, before the first change: CREATE where the
  // migrations create tables (an app with a schema of its own needs none on public).
  const created = new Set<string>();
  for (const source of sources) {
    for (const schema of createdSchemas(readMigrations(source.folder))) created.add(schema);
  }
  await preflightPrivileges(db, 'migrate', [], {
    migrationsSchemas: sources.map((source) => source.record.schema),
    createdSchemas: [...created].sort(),
  });
  // A lost connection or a server error outside a migration's own statements (the server's
  // version, the records) as a PgpartsError naming migrate; a migration's own says which.
  return asOperation('migrate', () => runMigrations(db, sources, options));
}

/**
 * What `migrate` with the same options would do, changing nothing (preview.ts): each pending
 * migration with its statements, an online one's as planned from the catalog now. A pending
 * plain CREATE INDEX on a partitioned table holding rows is refused here as migrate refuses it.
 */
export async function migrateDryRun(
  db: AnyPgDatabase,
  options: MigrateOptions = {},
): Promise<MigrationPreview[]> {
  checkDatabase('migrate', db);
  const sources = migrationSources(options);
  return asOperation('migrate', () => previewMigrations(db, sources, options));
}

/** The folders `options` migrates, each checked to have a journal before the database is asked. */
function migrationSources(options: MigrateOptions): MigrationSource[] {
  const sources: MigrationSource[] = [];
  if (options.packageMigrations ?? options.appFolder === undefined) {
    sources.push({
      label: 'pgparts',
      folder: MIGRATIONS_FOLDER,
      record: PACKAGE_RECORD,
      carryOverFromDrizzle: true,
    });
  }
  if (options.appFolder !== undefined) {
    sources.push({
      label: 'app',
      folder: options.appFolder,
      record: {
        schema: options.appMigrationsSchema ?? DRIZZLE_RECORD.schema,
        table: options.appMigrationsTable ?? DRIZZLE_RECORD.table,
      },
    });
  }
  // A folder without a journal is refused before anything is asked of the database.
  for (const source of sources) readJournal(source.folder, { required: true });
  return sources;
}
