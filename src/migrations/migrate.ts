import { fileURLToPath } from 'node:url';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { assertSupportedServer } from '../catalog/server-version.js';
import type { AnyPgDatabase } from '../run/database.js';

/** The migrations shipped with the package (drizzle/ at the package root). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export interface MigrateOptions {
  migrationsFolder?: string;
  migrationsSchema?: string;
  migrationsTable?: string;
}

/**
 * Applies pgparts's migrations (the Drizzle tables plus the partition DDL) to any Drizzle
 * PostgreSQL database, as drizzle-kit migrate would: pending migrations in one transaction,
 * recorded in drizzle.__drizzle_migrations. Refuses PostgreSQL older than 14.
 */
export async function migrate(db: AnyPgDatabase, options: MigrateOptions = {}): Promise<void> {
  await assertSupportedServer(db);
  const config = { migrationsFolder: options.migrationsFolder ?? MIGRATIONS_FOLDER, ...options };
  const migrations = readMigrationFiles(config);
  // Every Drizzle PostgreSQL driver's migrator is this call; going through it directly lets one
  // function serve postgres.js, node-postgres and PGlite alike.
  const internals = db as unknown as {
    dialect: { migrate(m: unknown, session: unknown, c: unknown): Promise<void> };
    session: unknown;
  };
  await internals.dialect.migrate(migrations, internals.session, config);
}
