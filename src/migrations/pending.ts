import { assertSupportedServer } from '../catalog/server-version.js';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { refuseBlockingIndexBuilds } from './blocking-index-guard.js';
import { drizzleRecordsOf } from './carry-over.js';
import { type MigrationFile, readMigrations } from './journal.js';
import { type MigrationRecord, recordedMigrations } from './migration-record.js';

/**
 * What migrate and its dry run read before deciding anything: the folders' migrations, which of
 * them are pending, and whether a pending one builds an index the blocking way. Reads only.
 */

export interface MigrationSource {
  /** How reports name it: `pgparts` or `app`. */
  label: string;
  folder: string;
  record: MigrationRecord;
  /** Move this folder's rows out of drizzle.__drizzle_migrations first (pgparts's own folder). */
  carryOverFromDrizzle?: boolean;
}

export interface SourceFiles {
  source: MigrationSource;
  files: MigrationFile[];
}

export interface PendingMigration {
  source: MigrationSource;
  file: MigrationFile;
}

/**
 * Every folder's migrations (a missing journal refused) read before the database is touched,
 * then the server's version checked, and every tag to mark as applied found in a folder.
 */
export async function readSources(
  db: AnyPgDatabase,
  sources: readonly MigrationSource[],
  markApplied: ReadonlySet<string>,
): Promise<SourceFiles[]> {
  const perSource = sources.map((source) => ({
    source,
    files: readMigrations(source.folder, { required: true }),
  }));
  await assertSupportedServer(db);
  const unknown = [...markApplied].filter(
    (tag) => !perSource.some((p) => p.files.some((f) => f.tag === tag)),
  );
  if (unknown.length > 0) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: migrate: no migration ${unknown.join(', ')} in ${perSource.map((p) => p.source.folder).join(' or ')} ` +
        '(give the tag as the journal names it, e.g. 0003_brave_tiger); nothing was applied',
    );
  }
  return perSource;
}

/**
 * The migrations each record lacks, in order. `countDrizzleRecords`: a folder carried over from
 * drizzle.__drizzle_migrations counts the rows still there as applied (the dry run, which moves
 * nothing; migrate has moved them by then).
 */
export async function pendingMigrations(
  db: AnyPgDatabase,
  perSource: readonly SourceFiles[],
  countDrizzleRecords: boolean,
): Promise<PendingMigration[]> {
  const pending: PendingMigration[] = [];
  for (const { source, files } of perSource) {
    const done = new Set((await recordedMigrations(db, source.record)).map((r) => r.createdAt));
    if (countDrizzleRecords && source.carryOverFromDrizzle) {
      for (const { file } of await drizzleRecordsOf(db, files)) done.add(file.when);
    }
    for (const file of files) if (!done.has(file.when)) pending.push({ source, file });
  }
  return pending;
}

/** Every pending file's index builds checked (blocking-index-guard.ts), those to mark aside. */
export async function refuseBlockingPending(
  db: AnyPgDatabase,
  pending: readonly PendingMigration[],
  markApplied: ReadonlySet<string>,
): Promise<void> {
  await refuseBlockingIndexBuilds(
    db,
    pending
      .filter(({ file }) => !markApplied.has(file.tag))
      .map(({ source, file }) => ({ source: source.label, folder: source.folder, file })),
  );
}
