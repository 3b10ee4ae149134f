import { createHash } from 'node:crypto';
import { entityKind, sql } from 'drizzle-orm';
import { PgpartsError, sqlStateOf } from '../errors.js';
import { type LockKey, releaseAdvisoryLock, tryAdvisoryLock } from '../run/advisory-lock.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query, run, runAsTransaction } from '../run/execute.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  retryOnLockTimeout,
} from '../run/lock-timeout.js';
import { isConnectionLoss, isLockNotAvailable, pgErrorMessage } from '../run/pg-error.js';
import { openSession } from '../run/session.js';
import { inspectIndexBuild } from './online-index-inspect.js';
import {
  type IndexBuildPlan,
  type IndexBuildPlanOptions,
  type IndexBuildStatement,
  planIndexBuild,
} from './online-index-plan.js';
import { planIndexReplacement, replacementSpec } from './online-index-replace.js';
import {
  type OnlineIndexSpec,
  type OnlineIndexSpecInput,
  parseOnlineIndexSpec,
} from './online-index-spec.js';
import {
  dropIndexSql,
  dropInvalidIndexSql,
  RESET_LOCK_TIMEOUT_SQL,
  setLockTimeoutSql,
} from './online-index-sql.js';

/**
 * buildIndexOnline: an index on a partitioned table, built without blocking writers.
 *
 * PostgreSQL cannot build a partitioned table's index CONCURRENTLY, and a plain CREATE INDEX on
 * the parent holds a SHARE lock on every partition (writers wait) for the whole build. So:
 * 1. `CREATE INDEX ... ON ONLY parent`: the parent's index alone, at once, marked invalid;
 * 2. per partition, DEFAULT included, `CREATE INDEX CONCURRENTLY` outside any transaction: it
 *    reads the partition while writers go on;
 * 3. `ALTER INDEX parent_index ATTACH PARTITION partition_index`, each; when the last partition
 *    has its index attached, PostgreSQL marks the parent's index valid;
 * 4. partitions are listed again until every one has its index attached and the parent index
 *    is valid (a partition created meanwhile by CREATE TABLE ... PARTITION OF or ATTACH
 *    PARTITION gets the index from PostgreSQL itself; one created before step 1 does not).
 * Every statement runs under a short lock_timeout, retried with backoff (run/lock-timeout.ts),
 * so a writer never queues behind a waiting DDL statement for longer than that.
 *
 * Killed at any point, the build is resumed by running it again: the plan starts from what the
 * catalog shows, drops the INVALID index an interrupted CREATE INDEX CONCURRENTLY leaves (only
 * under the name this build derives for that partition), builds it again and attaches what is
 * not attached yet. One build of an index runs at a time (an advisory lock on its name).
 */

export {
  CREATE_INDEX_ONLINE_DIRECTIVE,
  DROP_INDEX_DIRECTIVE,
  isOnlineMigration,
  ONLINE_MIGRATION_GUARD_SQL,
  ONLINE_MIGRATION_MARKER,
  type OnlineIndexDirective,
  type OnlineIndexEntry,
  onlineIndexDirectives,
  parseOnlineIndexMigration,
  RENAME_INDEX_DIRECTIVE,
  REPLACE_INDEX_ONLINE_DIRECTIVE,
  renderOnlineIndexMigration,
} from './online-index-migration.js';
export {
  formatIndexBuildPlan,
  type IndexBuildPlan,
  type IndexBuildSnapshot,
  type IndexBuildStatement,
  planIndexBuild,
} from './online-index-plan.js';
export {
  type IndexRenamePlan,
  planIndexRename,
  type RenameIndexOptions,
  renameIndexOnline,
} from './online-index-rename.js';
export { planIndexReplacement, replacementSpec } from './online-index-replace.js';
export {
  type IndexDrop,
  type IndexDropInput,
  type IndexRename,
  type IndexRenameInput,
  indexDropSchema,
  indexRenameSchema,
  type OnlineIndexSpec,
  type OnlineIndexSpecInput,
  onlineIndexSpecSchema,
  parseOnlineIndexSpec,
} from './online-index-spec.js';
export { dropIndexSql, partitionIndexName } from './online-index-sql.js';
export { inspectIndexBuild };

export type IndexBuildEvent =
  | { kind: 'planned'; round: number; plan: IndexBuildPlan }
  /** Sent just before `sql` goes to the server (conditional statements and retries included). */
  | {
      kind: 'statement';
      round: number;
      statement: IndexBuildStatement['kind'];
      sql: string;
      /** The partition a partition's statement is for. */
      partition?: { schema: string; name: string };
    }
  | { kind: 'retry'; sql: string; attempt: number; delayMs: number; reason: string };

export interface BuildIndexOptions {
  /**
   * How long ON ONLY and each ATTACH may wait for a lock (writers queue behind them while they
   * wait); DEFAULT_LOCK_TIMEOUT_MS when not given.
   */
  lockTimeoutMs?: number;
  /**
   * How long CREATE / DROP INDEX CONCURRENTLY may wait (for their lock, and for transactions
   * older than the build); no writer queues behind them. 60 s when not given.
   */
  concurrentLockTimeoutMs?: number;
  /** Tries after the first, per statement, when it gave up on lock_timeout. */
  retries?: number;
  /** Plan only: read the catalog, run nothing. */
  dryRun?: boolean;
  /**
   * An index of the spec's name exists with another definition and is to be replaced: the new
   * one is built beside it under another name, and swapped in (the old one dropped in the same
   * short transaction) once complete, so the table is never without it (planIndexReplacement).
   * Without it such an index is refused (`spec-mismatch`).
   */
  replace?: boolean;
  /** How many times partitions are listed again before giving up (partitions keep appearing). */
  maxRounds?: number;
  onProgress?: (event: IndexBuildEvent) => void | Promise<void>;
}

export interface IndexBuildResult {
  /** The first plan: on a dry run, what would run. */
  plan: IndexBuildPlan;
  dryRun: boolean;
  /** Every statement sent, in order (empty on a dry run). */
  statements: string[];
  /** Plans made: 1, plus one per listing of the partitions after a round that ran statements. */
  rounds: number;
  /** Lock timeouts met and retried. */
  lockTimeouts: number;
  durationMs: number;
}

const DOCS = 'docs/online-indexes.md';
/** 'pgix' in ASCII: the advisory lock class of index builds (the object is the index's name). */
const INDEX_BUILD_LOCK_CLASS = 0x70676978;

function buildLockKey(spec: OnlineIndexSpec): LockKey {
  const digest = createHash('sha256').update(`${spec.table.schema}.${spec.name}`).digest();
  return [INDEX_BUILD_LOCK_CLASS, digest.readInt32BE(0)];
}

function refuseTransaction(db: AnyPgDatabase): void {
  const kind = (db.constructor as { [entityKind]?: unknown })[entityKind];
  if (typeof kind === 'string' && kind.endsWith('Transaction')) {
    throw new PgpartsError(
      'refused',
      'buildIndexOnline cannot run inside a transaction: CREATE INDEX CONCURRENTLY refuses to; pass the database, not a transaction',
      { docs: DOCS },
    );
  }
}

function failure(
  spec: OnlineIndexSpec,
  statement: IndexBuildStatement,
  error: unknown,
  replacing: boolean,
) {
  const table = `${spec.table.schema}.${spec.table.name}`;
  const where = statement.partition
    ? ` on partition ${statement.partition.schema}.${statement.partition.name}`
    : '';
  const resume =
    'run the build again to resume it (an INVALID index it left is dropped and built again)' +
    (replacing
      ? `; until the replacement is swapped in, ${spec.name} stays as it was, in use`
      : '');
  if (isLockNotAvailable(error)) {
    return new PgpartsError(
      'lock-timeout',
      `index ${spec.name}${where}: ${statement.kind} could not get its lock within lock_timeout after every retry (writers were never queued behind it longer than that); ${resume} when the table is quieter`,
      { table, step: statement.kind, docs: DOCS, cause: error },
    );
  }
  const state = sqlStateOf(error) ?? '';
  return new PgpartsError(
    isConnectionLoss(error) ? 'connection' : 'query-failed',
    `index ${spec.name}${where}: ${statement.kind} failed: ${pgErrorMessage(error)}${state === '23505' ? ' (the partition holds duplicate keys: remove them first)' : ''}; ${resume}`,
    { table, step: statement.kind, docs: DOCS, cause: error },
  );
}

export async function buildIndexOnline(
  db: AnyPgDatabase,
  input: OnlineIndexSpecInput,
  options: BuildIndexOptions = {},
): Promise<IndexBuildResult> {
  const spec = parseOnlineIndexSpec(input);
  const planOptions = {
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    concurrentLockTimeoutMs: options.concurrentLockTimeoutMs,
  };
  const started = Date.now();
  const table = `${spec.table.schema}.${spec.table.name}`;
  const emit = async (event: IndexBuildEvent) => options.onProgress?.(event);

  if (options.dryRun) {
    const plan = await planRound(db, spec, options.replace === true, planOptions);
    await emit({ kind: 'planned', round: 1, plan });
    return { plan, dryRun: true, statements: [], rounds: 1, lockTimeouts: 0, durationMs: 0 };
  }
  refuseTransaction(db);

  const session = await openSession(db);
  const key = buildLockKey(spec);
  const statements: string[] = [];
  let lockTimeouts = 0;
  let locked = false;
  let lockTimeoutSet = false;
  let round = 0;
  let lost = false;
  let firstPlan: IndexBuildPlan | undefined;

  /** One statement, or one transaction (a swap: a failure rolls it back whole, the old index stays). */
  const send = async (
    kind: IndexBuildStatement['kind'],
    text: string,
    transaction?: readonly string[],
    partition?: IndexBuildStatement['partition'],
  ) => {
    await emit({
      kind: 'statement',
      round,
      statement: kind,
      sql: text,
      ...(partition ? { partition: { schema: partition.schema, name: partition.name } } : {}),
    });
    statements.push(text);
    try {
      if (transaction) await runAsTransaction(session.db, transaction);
      else await run(session.db, text);
    } catch (error) {
      lost ||= isConnectionLoss(error);
      throw error;
    }
  };

  /** An INVALID index under this build's name for the partition, left by a failed try. */
  const dropLeftover = async (partition: NonNullable<IndexBuildStatement['partition']>) => {
    const [leftover] = await query<{ valid: boolean }>(
      session.db,
      leftoverIndexQuery(partition.schema, partition.name, partition.index),
    );
    if (leftover && !leftover.valid) {
      await send(
        'drop-invalid-index',
        dropInvalidIndexSql(partition.schema, partition.index),
        undefined,
        partition,
      );
    }
  };

  const runStatement = async (statement: IndexBuildStatement) => {
    if (statement.kind === 'set-lock-timeout' || statement.kind === 'reset-lock-timeout') {
      await send(statement.kind, statement.sql);
      lockTimeoutSet = statement.kind === 'set-lock-timeout';
      return;
    }
    const outcome = await retryOnLockTimeout(
      async (attempt) => {
        if (attempt > 1 && statement.kind === 'create-partition-index' && statement.partition) {
          await dropLeftover(statement.partition);
        }
        await send(statement.kind, statement.sql, statement.together, statement.partition);
      },
      {
        retries: options.retries ?? DEFAULT_RETRIES,
        onRetry: (attempt, delayMs, error) =>
          emit({
            kind: 'retry',
            sql: statement.sql,
            attempt,
            delayMs,
            reason: pgErrorMessage(error),
          }),
      },
    );
    lockTimeouts += outcome.lockTimeouts.length;
    if (outcome.error) throw failure(spec, statement, outcome.error, options.replace === true);
  };

  try {
    const attempt = await tryAdvisoryLock(session.db, key);
    if (!attempt.acquired) {
      throw new PgpartsError(
        'busy',
        `index ${spec.name} on ${table} is being built by another session (backend pid ${attempt.holderPid}); wait for it, or stop it and run again`,
        { table, docs: DOCS },
      );
    }
    locked = true;
    const maxRounds = options.maxRounds ?? 5;
    for (;;) {
      round += 1;
      const plan = await planRound(session.db, spec, options.replace === true, planOptions);
      firstPlan ??= plan;
      await emit({ kind: 'planned', round, plan });
      if (plan.complete) break;
      if (plan.statements.length === 0) {
        throw new PgpartsError(
          'refused',
          `index ${spec.name} on ${table} is invalid and has no partition index to attach (the table has no partitions now); drop it with dropIndex and build it again`,
          { table, docs: DOCS },
        );
      }
      if (round > maxRounds) {
        throw new PgpartsError(
          'busy',
          `index ${spec.name} on ${table} is still not complete after ${maxRounds} rounds: partitions keep changing during the build; run it again when they do not`,
          { table, docs: DOCS },
        );
      }
      for (const statement of plan.statements) await runStatement(statement);
    }
  } finally {
    // The connection may be gone (that is how a build is interrupted): the server then dropped
    // its settings and its advisory lock, and nothing more may be sent on it.
    if (!lost) {
      if (lockTimeoutSet) await run(session.db, RESET_LOCK_TIMEOUT_SQL).catch(() => {});
      if (locked) await releaseAdvisoryLock(session.db, key).catch(() => {});
    }
    await session.release();
  }
  return {
    plan: firstPlan as IndexBuildPlan,
    dryRun: false,
    statements,
    rounds: round,
    lockTimeouts,
    durationMs: Date.now() - started,
  };
}

/** This round's plan, from the catalog as it is now (a replacement reads both names). */
async function planRound(
  db: AnyPgDatabase,
  spec: OnlineIndexSpec,
  replace: boolean,
  options: IndexBuildPlanOptions,
): Promise<IndexBuildPlan> {
  if (!replace) return planIndexBuild(spec, await inspectIndexBuild(db, spec), options);
  const existing = await inspectIndexBuild(db, spec);
  const replacement = await inspectIndexBuild(db, replacementSpec(spec));
  return planIndexReplacement(spec, { existing, replacement }, options);
}

function leftoverIndexQuery(schema: string, partition: string, index: string) {
  return sql`SELECT x.indisvalid AS valid
    FROM pg_index x
    JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
    JOIN pg_class t ON t.oid = x.indrelid
    WHERE n.nspname = ${schema} AND ic.relname = ${index} AND t.relname = ${partition}
      AND t.relnamespace = n.oid`;
}

export interface DropIndexOptions {
  lockTimeoutMs?: number;
  retries?: number;
  dryRun?: boolean;
}

/**
 * Drops an index of a partitioned table (its partitions' indexes go with it). Not online:
 * PostgreSQL cannot drop a partitioned index CONCURRENTLY, so the drop holds ACCESS EXCLUSIVE
 * locks on the table and its partitions for its (short) duration. It waits for them at most
 * lock_timeout per try, retried, so readers and writers never queue behind it for longer.
 * Returns the statements (run, or on a dry run to be run).
 */
export async function dropIndex(
  db: AnyPgDatabase,
  index: { schema?: string; name: string },
  options: DropIndexOptions = {},
): Promise<string[]> {
  const drop = dropIndexSql(index);
  const set = setLockTimeoutSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const statements = [set, drop, RESET_LOCK_TIMEOUT_SQL];
  if (options.dryRun) return statements;
  const session = await openSession(db);
  try {
    await run(session.db, set);
    const outcome = await retryOnLockTimeout(() => run(session.db, drop), {
      retries: options.retries ?? DEFAULT_RETRIES,
    });
    if (outcome.error) {
      const name = `${index.schema ?? 'public'}.${index.name}`;
      throw new PgpartsError(
        isLockNotAvailable(outcome.error) ? 'lock-timeout' : 'query-failed',
        `dropping index ${name} failed: ${pgErrorMessage(outcome.error)}`,
        { step: 'drop-index', docs: DOCS, cause: outcome.error },
      );
    }
  } finally {
    await run(session.db, RESET_LOCK_TIMEOUT_SQL).catch(() => {});
    await session.release();
  }
  return statements;
}
