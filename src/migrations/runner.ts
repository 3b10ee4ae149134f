import { sql } from 'drizzle-orm';
import { isPgpartsError, PgpartsError } from '../errors.js';
import { waitForAdvisoryLock } from '../run/advisory-lock.js';
import type { AnyPgDatabase } from '../run/database.js';
import { run } from '../run/execute.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  inShortTransaction,
} from '../run/lock-timeout.js';
import { isConnectionLoss, oneLine, pgErrorCode, pgErrorMessage } from '../run/pg-error.js';
import { openSession } from '../run/session.js';
import { carryOverPackageRecords } from './carry-over.js';
import type { MigrationFile } from './journal.js';
import { createRecordSql, insertRecordSql, type MigrationRecord } from './migration-record.js';
import { type OnlineIndexProgress, runOnlineDirectives } from './online-directives.js';
import {
  type MigrationSource,
  pendingMigrations,
  readSources,
  refuseBlockingPending,
} from './pending.js';

/**
 * The migration runner behind `pgparts migrate` and `migrate()`. For each source (pgparts's own
 * folder, then the app's), the migrations not yet in its record run in journal order:
 *
 * - one at a time, under a session advisory lock, so two runners started together apply each
 *   migration once (the second waits, trying the lock again and again rather than in a blocking
 *   statement, then finds nothing pending);
 * - an ordinary migration in one transaction with its record row, under lock_timeout, retried
 *   from the start when a statement gave up waiting for its lock;
 * - a `-- pgparts:online` migration (ops/online-index-migration.ts) index by index through
 *   buildIndexOnline, outside any transaction, recorded only after every index is built; a run
 *   killed half-way is resumed by the next one (the build finds and redoes its leftovers).
 *
 * The session runs with `pgparts.migrate = 'on'`: the guard that opens an online migration lets it
 * through here and stops it, before it changed anything, under plain `drizzle-kit migrate`.
 */

/** 'pgpa' and 'migr' in ASCII: the migration lock, apart from the maintenance lock. */
export const MIGRATION_LOCK_KEY: readonly [number, number] = [1885826145, 1835624306];

export type { MigrationSource };

export interface AppliedMigration {
  source: string;
  name: string;
  ms: number;
}

export interface RunMigrationsOptions {
  lockTimeoutMs?: number;
  retries?: number;
  onApplied?: (migration: AppliedMigration) => void;
  /**
   * Tags of migrations to record as applied without running them, when pending: for what was
   * built outside the migrations (tables an online conversion made, say). Every tag must be a
   * migration of a folder being migrated, or nothing runs.
   */
  markApplied?: readonly string[];
  /**
   * Apply a pending migration's plain `CREATE INDEX` on a partitioned table that holds data as
   * written, while the writers of every partition wait for the build (refused by default:
   * blocking-index-guard.ts).
   */
  allowBlockingIndexes?: boolean;
  /**
   * Told of each line of an online migration as it starts, and, while an index is built, of each
   * partition it builds on (an online build can take minutes on a large table).
   */
  onOnlineIndex?: (event: OnlineIndexProgress) => void;
}

export type { OnlineIndexProgress };

export interface RunMigrationsResult {
  applied: AppliedMigration[];
  /** Migrations recorded as applied without running (markApplied), in order. */
  marked: { source: string; name: string }[];
  /** pgparts migrations found in drizzle.__drizzle_migrations and moved to pgparts's record. */
  carriedOver: string[];
}

export async function runMigrations(
  db: AnyPgDatabase,
  sources: readonly MigrationSource[],
  options: RunMigrationsOptions = {},
): Promise<RunMigrationsResult> {
  const mark = new Set(options.markApplied ?? []);
  const perSource = await readSources(db, sources, mark);
  const session = await openSession(db);
  const conn = session.db;
  const result: RunMigrationsResult = { applied: [], marked: [], carriedOver: [] };
  // Waited for without a statement on the server: another runner's online index build would
  // otherwise wait for this one, which waits for it (waitForAdvisoryLock).
  await waitForAdvisoryLock(conn, MIGRATION_LOCK_KEY);
  try {
    await run(conn, `SET pgparts.migrate = 'on'`);
    for (const { source, files } of perSource) {
      await prepareRecord(conn, source, files, options, result);
    }
    const pending = await pendingMigrations(conn, perSource, false);
    // Every pending file's index builds are checked before the first is applied.
    if (!options.allowBlockingIndexes) await refuseBlockingPending(conn, pending, mark);
    for (const { source, file } of pending) {
      if (mark.has(file.tag)) {
        // Recorded as drizzle's migrator records a file it ran: its hash and journal time.
        await conn.execute(insertRecordSql(source.record)(file.hash, file.when));
        result.marked.push({ source: source.label, name: file.tag });
        continue;
      }
      const started = performance.now();
      try {
        if (file.online) await applyOnline(conn, source.record, file, options);
        else await applyInTransaction(conn, source.record, file, options);
      } catch (error) {
        throw migrationFailed(source, file, result.applied, error);
      }
      const applied = {
        source: source.label,
        name: file.tag,
        ms: Math.round(performance.now() - started),
      };
      result.applied.push(applied);
      options.onApplied?.(applied);
    }
  } finally {
    await run(conn, 'RESET pgparts.migrate').catch(() => {});
    await run(conn, 'RESET lock_timeout').catch(() => {});
    await conn
      .execute(
        sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY[0]}::int4, ${MIGRATION_LOCK_KEY[1]}::int4)`,
      )
      .catch(() => {});
    await session.release();
  }
  return result;
}

/**
 * A migration that failed, named (source, folder, tag) with what became of it and of the run:
 * the server's words alone left the user to guess which file broke. The code of a PgpartsError
 * (lock-timeout, refused, ...) is kept. A lost connection is a `connection` one: whether the
 * migration's transaction committed is unknown there, and the next migrate reads its record.
 */
function migrationFailed(
  source: MigrationSource,
  file: MigrationFile,
  applied: readonly AppliedMigration[],
  error: unknown,
): unknown {
  if (isConnectionLoss(error)) {
    return new PgpartsError(
      'connection',
      `pgparts: migration ${source.label} ${file.tag} (${source.folder}): the connection to the database was lost: ${oneLine(pgErrorMessage(error))}. ` +
        'Whether it committed is unknown: run migrate again, which goes on from what is recorded as applied',
      { cause: error, step: 'migrate' },
    );
  }
  const reason = (isPgpartsError(error) ? error.message : describeServerError(error)).replace(
    /^pgparts: /,
    '',
  );
  const state = file.online
    ? 'it is not recorded as applied; the indexes it built stay, and the next migrate continues it'
    : 'it was rolled back and is not recorded as applied';
  const before = applied.map((m) => `${m.source} ${m.name}`);
  const earlier =
    before.length > 0
      ? `applied before it in this run: ${before.join(', ')}`
      : 'nothing was applied before it in this run';
  return new PgpartsError(
    isPgpartsError(error) ? error.code : 'migration',
    `pgparts: migration ${source.label} ${file.tag} (${source.folder}) failed: ${reason}; ${state}; ${earlier}`,
    {
      cause: error,
      step: 'migrate',
      ...(isPgpartsError(error) && error.table ? { table: error.table } : {}),
    },
  );
}

/** A server error as the server wrote it, with its SQLSTATE. */
function describeServerError(error: unknown): string {
  const code = pgErrorCode(error);
  return code ? `${pgErrorMessage(error)} (SQLSTATE ${code})` : pgErrorMessage(error);
}

async function prepareRecord(
  conn: AnyPgDatabase,
  source: MigrationSource,
  files: readonly MigrationFile[],
  options: RunMigrationsOptions,
  result: RunMigrationsResult,
): Promise<void> {
  await inShortTransaction(conn, shortTx(options), async (tx) => {
    // Its CREATE ... IF NOT EXISTS says "already exists, skipping" (a NOTICE) on every run after
    // the first, which postgres.js prints by default: an app migrating at start-up logged two
    // of them each time. The app's own migrations keep their notices.
    await run(tx, `SET LOCAL client_min_messages = warning`);
    for (const statement of createRecordSql(source.record)) await run(tx, statement);
    if (source.carryOverFromDrizzle) {
      result.carriedOver.push(...(await carryOverPackageRecords(tx, files, source.record)));
    }
  });
}

function shortTx(options: RunMigrationsOptions) {
  return {
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    retries: options.retries ?? DEFAULT_RETRIES,
  };
}

async function applyInTransaction(
  conn: AnyPgDatabase,
  record: MigrationRecord,
  file: MigrationFile,
  options: RunMigrationsOptions,
): Promise<void> {
  const insert = insertRecordSql(record);
  await inShortTransaction(conn, shortTx(options), async (tx) => {
    for (const statement of file.statements) await run(tx, statement);
    await tx.execute(insert(file.hash, file.when));
  });
}

async function applyOnline(
  conn: AnyPgDatabase,
  record: MigrationRecord,
  file: MigrationFile,
  options: RunMigrationsOptions,
): Promise<void> {
  // The file holds the guard and one directive per index (ops/online-index-migration.ts); its
  // SQL is not run here: each index is built online, resumably, then the file is recorded.
  await runOnlineDirectives(conn, file.text, file.tag, options);
  await conn.execute(insertRecordSql(record)(file.hash, file.when));
}
