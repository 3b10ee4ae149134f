import { z } from 'zod';
import { type RecordedOperation, readOperations } from '../../catalog/operations.js';
import type { RetiredKey } from '../../catalog/retired-keys.js';
import { staleStatistics } from '../../catalog/stale-statistics.js';
import { familyArgument, keyWord, labelWord, tableArgument } from '../../define/command-words.js';
import { checkKeyShape, keyLabel, type PartitionKey } from '../../define/partition-key.js';
import type { FamilySpec } from '../../define/spec.js';
import { isPgpartsError, PgpartsError } from '../../errors.js';
import { abandonCommand, failedDrainDetail } from '../../plan/drain-failure.js';
import { checkDatabase } from '../../run/check-database.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { driverCapabilities } from '../../run/driver-capabilities.js';
import { query, run, runAsTransaction, runCounted, runInTransaction } from '../../run/execute.js';
import { heldRightNow, type KeyOperation, withKeyOperation } from '../../run/key-lock.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  isLockConflict,
  lockOptionsSchema,
  outcomeError,
  retryOnLockTimeout,
  runLockedTransaction,
  type ShortTransactionOptions,
} from '../../run/lock-timeout.js';
import {
  checkOptions,
  databaseOption,
  functionOption,
  memorySizeOption,
  wholeOption,
} from '../../run/options.js';
import {
  asOperation,
  asOperationError,
  isConnectionLoss,
  pgErrorCode,
} from '../../run/pg-error.js';
import { preflightPrivileges } from '../../run/privileges.js';
import { openSession, pgpartsSessionSettings, type Session } from '../../run/session.js';
import { quoteIdent } from '../../sql/identifiers.js';
import { checkKey } from '../key-validation.js';
import { replayBatch, replayUntilEmpty } from '../online-copy/replay.js';
import { ensureOwnership } from '../ownership.js';
import {
  type DrainState,
  type DrainTableState,
  readDefaultPages,
  readDrainState,
} from './state.js';
import {
  type BuildSettings,
  buildsBesideAsked,
  COPY_BATCH_PAGES,
  type CopyTarget,
  completeSwapUnits,
  copyBatchAt,
  copyBesideAsked,
  type DrainStatements,
  type DrainUnit,
  drainStatements,
  type IndexBuild,
  listDrainStatements,
  STAGED_GAIN,
  type TablePlan,
  twoLanes,
} from './statements.js';
import { completeSwap, type DrainStrategy, type SwapCompletion, swapObstacles } from './swap.js';

/**
 * drainKey: gives a key that landed in DEFAULT its own partitions, for every table of a family,
 * online and without losing a row.
 *
 * 1. prepare: a change-capture trigger on each DEFAULT partition (every later write to it is
 *    logged), then a staging table per family table, shaped LIKE the parent but without its
 *    indexes, and carrying a CHECK equal to the key's partition bound (so ATTACH skips its
 *    validation scan, docs/postgres-behaviours.md#attach-without-scan).
 * 2. copy: the key's rows from each DEFAULT into its staging table in block ranges (TID range
 *    scans), while writers keep writing; then the parent's indexes built on it (indexes.ts:
 *    cheaper than a btree insertion per row copied, and ATTACH adopts them); then replay the
 *    logged changes, a few rounds.
 * 3. finish, one short transaction under lock_timeout with retries: block writes to the DEFAULT
 *    partitions only (EXCLUSIVE: reads go on, other partitions are untouched), replay what is
 *    left, delete the key's rows from DEFAULT, ATTACH the staging tables referenced first,
 *    drop the triggers. Rows are in DEFAULT before the commit and in the new partitions after it.
 *
 * The cascade trap (docs/postgres-behaviours.md#cascade-on-move): deleting the key's runs from DEFAULT would fire ON DELETE CASCADE
 * into the members. When the role may set session_replication_role, the deletes run with it set
 * to `replica`, which skips every trigger including the cascade: a move is not a deletion. The
 * referencing staging tables then carry the family's foreign key, validated online before the
 * final phase, so ATTACH adopts it without a second validation. Without that privilege the
 * referencing rows are deleted first (the cascade finds nothing), the staging tables carry no
 * foreign key, and ATTACH validates it: correct, but the final phase costs more.
 *
 * Interrupted anywhere (process or backend killed), the final transaction rolls back whole; the
 * staging tables and triggers stay, and running drainKey again resumes: a staging table that
 * lacks any of its indexes (the copy may not have ended) is emptied and copied again, one that
 * has them all is copied over (ON CONFLICT DO NOTHING skips rows already there), and the log
 * brings changed rows up to date. A half-built partition is never attached.
 *
 * Every statement is built before the first one runs (statements.ts), from the state read at
 * the start; `pgparts drain --dry-run` and `plan` print the same list (copy and replay batches,
 * whose text depends on what the copy finds, as templates).
 *
 * The key is checked before anything is made (key-validation.ts), and the drain holds the key's
 * lock and record (run/key-lock.ts) throughout: a retire of the key, or a second drain, is
 * refused while it runs, and after a crash until a drain or apply has finished it. A drain of
 * another key of the family is refused likewise (checkOtherDrains). Its staging
 * tables are pgparts's own from the transaction that creates them (sql/ownership.ts).
 */

export interface DrainProgress {
  phase: 'prepare' | 'copy' | 'replay' | 'finish';
  table?: string;
  done: number;
  total: number | null;
}

export interface DrainOptions {
  /** Pages of the DEFAULT partition copied per batch (8 kB each). Default 512. */
  batchPages?: number;
  /** Pause between batches, to leave I/O for production traffic. Default 0. */
  throttleMs?: number;
  /** How long a DDL statement or the final phase waits for its locks. */
  lockTimeoutMs?: number;
  /** Tries after the first of a step that could not get its locks (timeout, deadlock). Default 8. */
  retries?: number;
  /** Replay rounds before the final phase. Default 3. */
  replayRounds?: number;
  /**
   * A table's index builds two at a time, on a second connection of `beside` when one is free
   * within a second (default true). False keeps the whole drain on one connection.
   */
  sideBySide?: boolean;
  /**
   * maintenance_work_mem for each index build after the copy ('128MB', '1GB', ...), set in the
   * build's own transaction; default the server's setting. A build whose sort needs more sorts
   * on disk, slower: about 71 MB for the primary key of 1M rows of (bigint, timestamptz). Side
   * by side, two builds run at once, each with up to this much.
   */
  maintenanceWorkMem?: string;
  /**
   * Where that second connection comes from. drainKey takes it from the database it is given
   * when that is a pool; apply passes the app's pool (its own connection is pinned).
   */
  beside?: AnyPgDatabase;
  /**
   * How the final phase takes the rows out of DEFAULT: `swap` (a rebuilt DEFAULT swapped in,
   * milliseconds of locks whatever the size; PostgreSQL 18 when the family has foreign keys
   * between its tables), `delete` (the key's rows deleted from DEFAULT under the locks, as long
   * as the rows moved), or `auto` (default): swap whenever nothing prevents it (foreign keys
   * between the family's tables need PostgreSQL 18; a table outside the family referencing it;
   * a DEFAULT pgparts does not own; see swapObstacles).
   */
  strategy?: 'auto' | DrainStrategy;
  /** Told of each phase's progress; awaited (the drain goes on once it returns). */
  onProgress?: (progress: DrainProgress) => void | Promise<void>;
  /** Called before a retry after a lock timeout (attempt number, pause, the error). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** For tests: called between phases, to interrupt the drain at a chosen point. */
  onPhase?: (
    phase:
      | 'prepared'
      | 'copied'
      | 'indexed'
      | 'keys'
      | 'replayed'
      | 'finishing'
      | 'locked'
      | 'validating',
  ) => Promise<void> | void;
}

/** DrainOptions as checked before anything runs (run/options.ts: unknown names refused). */
const drainOptionsSchema = z
  .object({
    batchPages: wholeOption(1),
    throttleMs: wholeOption(0),
    ...lockOptionsSchema.shape,
    replayRounds: wholeOption(1),
    sideBySide: z.boolean().optional(),
    maintenanceWorkMem: memorySizeOption.optional(),
    beside: databaseOption.optional(),
    strategy: z.enum(['auto', 'swap', 'delete']).optional(),
    onProgress: functionOption.optional(),
    onRetry: functionOption.optional(),
    onPhase: functionOption.optional(),
  })
  .strict();

export interface DrainTableResult {
  table: string;
  partition: string;
  rowsMoved: number;
}

export interface DrainResult {
  family: string;
  key: string;
  /**
   * drained: moved now; completed: the key's partitions were already attached, and what an
   * interrupted swap left was finished (old DEFAULT partitions dropped, keys validated).
   */
  status: 'drained' | 'completed' | 'nothing-to-do';
  strategy: DrainStrategy | null;
  tables: DrainTableResult[];
  rowsMoved: number;
  /** Rows copied online, before the final phase (re-copies included). */
  rowsCopiedOnline: number;
  /** Connections the copy ran on: 2 where it ran two batches at a time (sideBySide), else 1. */
  copyConnections: number;
  elapsedMs: number;
  /** The final phase: from taking the locks that block writes to DEFAULT until commit. */
  maxLockHoldMs: number;
  /**
   * Where the last final phase spent its lock hold: replaying the changes logged since the copy,
   * deleting the moved rows from DEFAULT (grows with the rows moved), attaching (each ATTACH
   * checks DEFAULT holds no row of the key: grows with DEFAULT's size) and the rest (dropping
   * the triggers, the commit).
   */
  finalPhase: FinalPhaseTimes;
  finalAttempts: number;
  /** The deletes from DEFAULT skipped triggers (session_replication_role = replica). */
  skippedTriggers: boolean;
  /** A swap's work after its commit: old DEFAULT partitions dropped, foreign keys validated. */
  swap: SwapCompletion | null;
}

export interface FinalPhaseTimes {
  replayMs: number;
  deleteMs: number;
  attachMs: number;
  otherMs: number;
}

const NO_FINAL_PHASE: FinalPhaseTimes = { replayMs: 0, deleteMs: 0, attachMs: 0, otherMs: 0 };

/** The `n` column of a one-row query. */
async function count(db: AnyPgDatabase, statement: string): Promise<number> {
  const [row] = await query<{ n: number | string }>(db, statement);
  return Number(row?.n ?? 0);
}

/** DDL on live tables: its own short transaction, lock_timeout, retried on lock timeouts. */
async function ddl(db: AnyPgDatabase, statements: string[], options: DrainOptions): Promise<void> {
  await runLockedTransaction(db, { ...options, what: 'drain' }, statements);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Why `key` cannot be drained in `family` whatever the database holds; null when it can. */
export function drainKeyKindProblem(family: FamilySpec, key: PartitionKey): string | null {
  if (key.kind === 'default') return 'DEFAULT is not a key';
  if (key.kind !== family.partitionBy.strategy) {
    return `a ${key.kind} key on a ${family.partitionBy.strategy} family`;
  }
  return null;
}

function validate(family: FamilySpec, key: PartitionKey, state: DrainState): DrainTableState[] {
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const kind = drainKeyKindProblem(family, key);
  if (kind)
    throw new PgpartsError('invalid-input', `pgparts: drain: ${where}: ${kind}`, { step: 'drain' });
  if (state.retired && !state.ownDrain) throw retiredKeyError(family, key, where, state.retired);
  for (const t of state.tables) {
    if (t.targetHoldsOther !== null) {
      throw new PgpartsError(
        'refused',
        `pgparts: drain: ${where}: ${t.table}'s partition ${t.target} holds ${t.targetHoldsOther}, ` +
          `not this key: the key's partition would have that name (partition names come from the ` +
          'values: text values differing only in case or punctuation share one, and a value ' +
          "that names the DEFAULT partition takes its name); check the key's spelling",
        { step: 'drain', table: `${family.schema}.${t.table}` },
      );
    }
    if (t.coveredBy) {
      throw new PgpartsError(
        'refused',
        `pgparts: drain: ${where}: ${t.table} already has partition ${t.coveredBy} for this key ` +
          `under another name; rename it to ${t.target} or leave this key alone`,
        { step: 'drain', table: `${family.schema}.${t.table}` },
      );
    }
    if (t.targetState === 'foreign') {
      throw new PgpartsError(
        'refused',
        `pgparts: drain: ${where}: a table named ${t.target} exists and was not made by a drain; ` +
          'rename or drop it before draining',
        { step: 'drain', table: `${family.schema}.${t.target}` },
      );
    }
    if (t.pkColumns.length === 0 && t.targetState !== 'attached') {
      throw new PgpartsError(
        'refused',
        `pgparts: drain: ${where}: ${t.table} has no primary key; a drain needs one`,
        { step: 'drain', table: `${family.schema}.${t.table}` },
      );
    }
  }
  return state.tables.filter((t) => t.targetState !== 'attached');
}

/**
 * A retired key stays retired: apply makes no partition of it, and retention would retire one a
 * drain made, with the rows moved into it (a drop deletes them). Rows of it in DEFAULT were
 * written after it was retired; the drain leaves them there until someone decides.
 */
function retiredKeyError(
  family: FamilySpec,
  key: PartitionKey,
  where: string,
  retired: RetiredKey,
): PgpartsError {
  const how =
    retired.mode === 'archive'
      ? `archived into ${retired.archiveSchema ?? 'its archive schema'}`
      : 'dropped';
  const table = family.tables[0] ?? family.name;
  return new PgpartsError(
    'refused',
    `pgparts: drain: ${where}: the key was retired (${how}, ${retired.retiredAt.toISOString()}) ` +
      'and stays retired: a partition drained for it would be retired again by the next ' +
      `apply --yes${retired.mode === 'drop' ? ', dropping the rows moved into it' : ''}; nothing ` +
      'was changed. Its rows in DEFAULT were written after it was retired. To keep them in ' +
      `their own partition, first \`pgparts unretire ${tableArgument(family, table)} ${keyWord(key)}\`${retired.mode === 'archive' ? ' (or reattach the archived key)' : ''} ` +
      "and make sure the key is within the spec's retention window; otherwise delete them from DEFAULT",
    { step: 'drain' },
  );
}

/** `a` was recorded before `b` (the key breaks a tie). */
function recordedBefore(a: RecordedOperation, b: RecordedOperation): boolean {
  const at = a.startedAt.getTime();
  const bt = b.startedAt.getTime();
  return at < bt || (at === bt && a.key < b.key);
}

/** The 'busy' refusal naming the other key's drain and how to finish it. */
function otherDrainError(
  family: FamilySpec,
  where: string,
  other: RecordedOperation,
): PgpartsError {
  const since = `phase ${other.phase}, started ${other.startedAt.toISOString()}`;
  const what = other.running
    ? `a drain of key ${other.key} is running on this family (${since}); nothing was changed: try again when it is done`
    : `an unfinished drain of key ${other.key} (${since}) is on this family; nothing was changed: ` +
      `finish it first with \`pgparts drain ${familyArgument(family)} ${labelWord(family, other.key)}\` or \`pgparts apply\``;
  const error = new PgpartsError(
    'busy',
    `pgparts: drain: ${where}: ${what} (the drains of a family share DEFAULT, its change log and its successor)`,
    { step: 'drain' },
  );
  // A running one is work under way, as for the key itself: apply skips the step, not fails it.
  return other.running ? heldRightNow(error) : error;
}

/**
 * One drain of a family at a time: they share each DEFAULT, its capture trigger and change log
 * (a finishing drain drops the trigger and empties the log), and the successor `<default>_next`.
 * A drain waits for another key's drain that runs, or that was recorded before its own and is
 * unfinished; the earliest recorded one may always resume, so two left by a crash never wait
 * for each other.
 */
function checkOtherDrains(family: FamilySpec, where: string, state: DrainState): void {
  const own = state.ownDrain;
  const ahead = state.otherDrains.find((op) => op.running || !own || recordedBefore(op, own));
  if (ahead) throw otherDrainError(family, where, ahead);
}

/** Runs drain units: each in its own short transaction under lock_timeout, or one by one. */
async function runUnits(
  db: AnyPgDatabase,
  units: DrainUnit[],
  options: DrainOptions,
): Promise<void> {
  for (const unit of units) {
    if (unit.transaction) await ddl(db, unit.statements, options);
    else for (const statement of unit.statements) await run(db, statement);
  }
}

/** foreign_key_violation: a row's referenced row is missing. */
const FOREIGN_KEY_VIOLATION = '23503';
/** unique_violation, exclusion_violation: an index build found two rows that may not coexist. */
const BUILD_FOUND_TWICE = new Set(['23505', '23P01']);

/**
 * The parent's indexes on the tables just copied into (indexes.ts): each table's builds side by
 * side on `connections` (the drain's own first), then its constraints in one transaction on the
 * drain's. A key found twice (or two rows an exclusion constraint refuses) is a row an
 * update moved to a block copied later, copied in both versions: its key is in the change log,
 * so the rows of the logged keys are removed (the replay writes each back as DEFAULT holds it)
 * and the builds that failed run again; what is left is rows as DEFAULT holds them, which its
 * own indexes already accept together.
 */
async function buildIndexes(
  db: AnyPgDatabase,
  second: AnyPgDatabase | null,
  ds: DrainStatements,
  options: DrainOptions,
): Promise<Map<string, number>> {
  /** Rows removed as copied twice, per table built. */
  const removedRows = new Map<string, number>();
  for (const b of ds.indexBuilds) {
    let removed = false;
    /** Removes the rows copied twice, once; any other failure is thrown as it is. */
    const removeDuplicates = async (errors: unknown[]) => {
      const other = errors.find((e) => !BUILD_FOUND_TWICE.has(pgErrorCode(e) ?? ''));
      if (other !== undefined || !b.duplicates || removed) throw other ?? errors[0];
      removedRows.set(b.table, await runCounted(db, b.duplicates));
      removed = true;
    };
    const failed = await runBuilds(db, second, b, ds.buildSettings);
    if (failed.length > 0) {
      await removeDuplicates(failed.map((f) => f.error));
      for (const f of failed) await run(db, f.statement);
    }
    try {
      await runUnits(db, [b.constraints], options);
    } catch (error) {
      await removeDuplicates([error]);
      await runUnits(db, [b.constraints], options);
    }
  }
  return removedRows;
}

/**
 * Runs a table's builds: `keyBuild` on `second` while `builds` run one after the other on `db`,
 * or all on `db` when there is no second. Every build is tried whatever another meets; returns
 * the ones that failed, with their errors. Side by side, each build runs in a transaction of its
 * own with SIDE_BY_SIDE_BUILD (one process per build: the two share the cores instead of each
 * asking for parallel workers); with maintenanceWorkMem, also one lane (buildSettingsSql).
 */
async function runBuilds(
  db: AnyPgDatabase,
  second: AnyPgDatabase | null,
  b: IndexBuild,
  settingsFor: BuildSettings,
): Promise<{ statement: string; error: unknown }[]> {
  const sideBySide = second !== null && twoLanes(b);
  const lanes: [AnyPgDatabase, string[]][] = sideBySide
    ? [
        [db, b.builds],
        [second, [b.keyBuild]],
      ]
    : [[db, [...(b.keyBuild !== null ? [b.keyBuild] : []), ...b.builds]]];
  const failed: { statement: string; error: unknown }[] = [];
  await Promise.all(
    lanes.map(async ([connection, statements]) => {
      for (const statement of statements) {
        try {
          const settings = sideBySide ? settingsFor.sideBySide : settingsFor.oneLane;
          if (settings) await runAsTransaction(connection, [settings, statement]);
          else await run(connection, statement);
        } catch (error) {
          failed.push({ statement, error });
        }
      }
    }),
  );
  return failed;
}

/** How long the index builds wait for a second connection of the pool before going one by one. */
const SECOND_SESSION_WAIT_MS = 1_000;

/**
 * A second connection of `pool` with pgparts's session settings, or null when the pool holds one
 * session only or has none free within SECOND_SESSION_WAIT_MS (one that frees up later is given
 * back at once).
 */
async function secondSession(pool: AnyPgDatabase): Promise<Session | null> {
  if (!driverCapabilities(pool).multiSession) return null;
  const opening = openSession(pool, { settings: pgpartsSessionSettings() });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), SECOND_SESSION_WAIT_MS);
  });
  const got = await Promise.race([opening.catch(() => null), late]);
  clearTimeout(timer);
  if (got === null)
    void opening.then(
      (session) => session.release(),
      () => {},
    );
  return got;
}

/** Validations of one staged key tried after a replay, before the drain gives up. */
const VALIDATION_TRIES = 4;

/**
 * The staged tables' foreign keys, added NOT VALID and validated online. A writer that deletes a
 * referenced row after the last replay and before the key is added leaves a staged row whose
 * own deletion is still in the log (the cascade removed it from DEFAULT, not from staging): the
 * validation then finds an orphan that is not one. From the moment the key exists the cascade
 * reaches the staged rows too, so a replay removes what is left and the validation is tried
 * again; a real orphan still fails after the last try, with the server's error.
 */
async function addStagedForeignKeys(
  db: AnyPgDatabase,
  ds: DrainStatements,
  options: DrainOptions,
): Promise<Map<string, number>> {
  const gained = new Map<string, number>();
  for (const unit of ds.foreignKeys) {
    for (let attempt = 1; ; attempt++) {
      try {
        await runUnits(db, [unit], options);
        break;
      } catch (error) {
        if (pgErrorCode(error) !== FOREIGN_KEY_VIOLATION || attempt >= VALIDATION_TRIES)
          throw error;
        addCounts(gained, await replayAll(db, ds, options));
      }
    }
  }
  return gained;
}

/**
 * Copies DEFAULT's rows into the targets, a batch of pages at a time, each batch its own
 * statement (committed as it ends). With `second`, two batches at a time: each connection takes
 * the next batch when it is done with one. The order does not matter: a row changed while the
 * copy runs is in the change log, and the replay makes it what DEFAULT holds whichever batch
 * copied it, or both (index builds then find it twice: see buildIndexes). A failure stops both
 * lanes, after the batch the other is running, and is thrown.
 */
async function copyBlocks(
  db: AnyPgDatabase,
  second: AnyPgDatabase | null,
  family: FamilySpec,
  t: DrainTableState,
  targets: CopyTarget[],
  options: DrainOptions,
): Promise<Map<string, number>> {
  /** Rows copied, per target table. */
  const copied = new Map<string, number>(targets.map((target) => [target.table, 0]));
  if (!t.defaultPartition || t.defaultPages === 0) return copied;
  const batch = options.batchPages ?? COPY_BATCH_PAGES;
  const batches: { page: number; target: CopyTarget }[] = [];
  for (let page = 0; page < t.defaultPages; page += batch) {
    for (const target of targets) batches.push({ page, target });
  }
  let next = 0;
  let finished = 0;
  let reported = 0;
  let failed = false;
  const lane = async (connection: AnyPgDatabase) => {
    while (!failed && next < batches.length) {
      const { page, target } = batches[next++] as (typeof batches)[number];
      try {
        // Counted after the await: a sum read before it would lose the other lane's batches
        // finished meanwhile.
        const rows = await runCounted(connection, copyBatchAt(family, t, target, page, batch));
        addCount(copied, target.table, rows);
      } catch (error) {
        failed = true;
        throw error;
      }
      finished += 1;
      // Pages done: as many batches of pages as have been copied into every target.
      const done = Math.min(Math.floor(finished / targets.length) * batch, t.defaultPages);
      if (done > reported) {
        reported = done;
        await options.onProgress?.({ phase: 'copy', table: t.table, done, total: t.defaultPages });
      }
      if (options.throttleMs) await sleep(options.throttleMs);
    }
  };
  const ended = await Promise.allSettled(second ? [lane(db), lane(second)] : [lane(db)]);
  const error = ended.find((e) => e.status === 'rejected');
  if (error) throw error.reason;
  return copied;
}

interface Replayed {
  /** Log entries replayed. */
  entries: number;
  /** Rows the staging table gained (the replay counts them). */
  stagedDelta: number;
}

/** Replays one batch of logged changes of a DEFAULT partition into its copy targets. */
async function replayOnce(db: AnyPgDatabase, p: TablePlan): Promise<Replayed> {
  const replay = p.replay;
  if (!replay) return { entries: 0, stagedDelta: 0 };
  return db.transaction(async (tx) => {
    const batch = await replayBatch(tx, replay);
    return { entries: batch.taken, stagedDelta: batch.gained[STAGED_GAIN] ?? 0 };
  });
}

/**
 * One replay batch, tried again when a foreign key refused it (23503). A swap's staging tables
 * carry the keys to tables outside the family: a batch that read a row before a writer deleted
 * it and then the row it references (the writer's entry not yet committed, so not taken) writes
 * the row's copy back after that commit, and the key check finds the referenced row gone. The
 * next batch takes the writer's entry and reads the row as DEFAULT holds it now. A real orphan
 * fails every try, with the server's error.
 */
async function replayOnceOverOrphans(db: AnyPgDatabase, p: TablePlan): Promise<Replayed> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await replayOnce(db, p);
    } catch (error) {
      if (pgErrorCode(error) !== FOREIGN_KEY_VIOLATION || attempt >= VALIDATION_TRIES) throw error;
    }
  }
}

/** Replays until the log of every DEFAULT is empty (in the final phase, under its locks). */
async function replayToEmpty(db: AnyPgDatabase, plans: TablePlan[]): Promise<Map<string, number>> {
  const deltas = new Map<string, number>();
  for (const p of plans) {
    const replay = p.replay;
    if (!replay) continue;
    const done = await replayUntilEmpty(() => replayBatch(db, replay));
    addCount(deltas, p.t.table, done.gained[STAGED_GAIN] ?? 0);
  }
  return deltas;
}

/** Adds `rows` to the count of `table` in `counts`. */
function addCount(counts: Map<string, number>, table: string, rows: number): void {
  counts.set(table, (counts.get(table) ?? 0) + rows);
}

/** Adds each table's rows in `more` to `into`. */
function addCounts(into: Map<string, number>, more: Map<string, number>): void {
  for (const [table, rows] of more) addCount(into, table, rows);
}

/** Replay passes until one finds nothing; returns the rows each staging table gained. */
async function replayAll(
  db: AnyPgDatabase,
  ds: DrainStatements,
  options: DrainOptions,
): Promise<Map<string, number>> {
  const gained = new Map<string, number>();
  for (let round = 0; round < (options.replayRounds ?? 3); round++) {
    // Writers grow DEFAULT faster than autovacuum's statistics follow. Planned on stale ones,
    // the lookup of each logged key went through a narrower index than the primary key and
    // read thousands of rows per key: 1 ms a row, 86 s for 11k keys in the 8-writer test.
    // Fresh statistics before each pass, which the final replay's plans use too; only where
    // they are stale by autovacuum's rule (an ANALYZE samples up to 30,000 pages: 100-200 ms
    // for a million rows, for nothing when DEFAULT changed little since its last one).
    if (round === 0) {
      for (const a of await staleStatistics(db, ds.analyzeDefaults)) await run(db, a.sql);
    }
    let replayed = 0;
    for (const p of ds.tables) {
      const once = await replayOnceOverOrphans(db, p);
      replayed += once.entries;
      addCount(gained, p.t.table, once.stagedDelta);
    }
    await options.onProgress?.({
      phase: 'replay',
      done: round + 1,
      total: options.replayRounds ?? 3,
    });
    if (replayed === 0) break;
  }
  return gained;
}

interface FinishOutcome {
  moved: Map<string, number>;
  lockHoldMs: number;
  times: FinalPhaseTimes;
}

/** Measures the laps of the final phase. */
function stopwatch() {
  let mark = performance.now();
  return () => {
    const now = performance.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
}

/**
 * The final transaction (statements.ts builds it: lock_timeout, one drain of the family at a
 * time, the locks, then the strategy's work). Returns when committed.
 */
async function finish(
  db: AnyPgDatabase,
  family: FamilySpec,
  ds: DrainStatements,
  staged: Map<string, number>,
  options: DrainOptions,
): Promise<FinishOutcome> {
  let lockedAt = 0;
  const moved = new Map<string, number>();
  /** Copies the app's writes removed since they were counted (online-copy/capture.ts). */
  const removed = new Map<string, number>();
  const times = { ...NO_FINAL_PHASE };
  await db.transaction(async (tx) => {
    let lap = stopwatch();
    let deltas = new Map<string, number>();
    // Consecutive statements whose results nothing reads go out together (runInTransaction: one
    // round trip where the connection allows it, each otherwise): under the parents' locks,
    // each round trip saved is one writers do not wait for. A lock that times out aborts the
    // transaction, so nothing sent after it takes effect.
    let unsent: string[] = [];
    const send = async () => {
      if (unsent.length > 0) await runInTransaction(tx, unsent);
      unsent = [];
    };
    for (const item of ds.finish) {
      if (item.kind === 'run') {
        unsent.push(item.sql);
        continue;
      }
      await send();
      if (item.kind === 'guard') {
        if ((await count(tx, item.sql)) === 0)
          throw new PgpartsError(
            'busy',
            `pgparts: drain: another drain of family ${family.name} is finishing; try again`,
            { step: 'drain' },
          );
      } else if (item.kind === 'delete') moved.set(item.table, await count(tx, item.sql));
      else if (item.kind === 'removed') removed.set(item.table, await count(tx, item.sql));
      else if (item.kind === 'replay') deltas = await replayToEmpty(tx, ds.tables);
      else if (item.mark === 'locked') {
        lockedAt = performance.now();
        await options.onPhase?.('locked');
        lap = stopwatch();
      } else if (item.mark === 'replayed') times.replayMs = lap();
      else if (item.mark === 'deleted') times.deleteMs = lap();
      else times.attachMs = lap();
    }
    await send();
    if (ds.strategy === 'swap') {
      // Nothing was deleted: the staging tables hold exactly the key's rows of DEFAULT.
      for (const p of ds.tables)
        moved.set(
          p.t.table,
          (staged.get(p.t.table) ?? 0) +
            (deltas.get(p.t.table) ?? 0) -
            (removed.get(p.t.table) ?? 0),
        );
    }
  });
  const lockHoldMs = performance.now() - lockedAt;
  times.otherMs = Math.max(0, lockHoldMs - times.replayMs - times.deleteMs - times.attachMs);
  return { moved, lockHoldMs, times };
}

/**
 * Which final phase to run: the option, or for `auto` a swap whenever nothing prevents it (on
 * PostgreSQL 14-17 that means no foreign keys between the family's tables: see swapObstacles).
 */
function chooseStrategy(
  state: DrainState,
  tables: DrainTableState[],
  options: DrainOptions,
  where: string,
): DrainStrategy {
  const wanted = options.strategy ?? 'auto';
  if (wanted === 'delete') return checkedDelete(state, tables, where);
  const obstacles = swapObstacles(state, tables);
  if (wanted === 'swap') {
    if (obstacles.length > 0)
      throw new PgpartsError(
        'refused',
        `pgparts: drain: ${where}: cannot swap: ${obstacles.join('; ')}`,
        {
          step: 'drain',
          // The PostgreSQL behaviour behind the foreign-key obstacle; the others explain themselves.
          ...(state.serverVersion < 180000 && tables.some((t) => t.familyForeignKeys.length > 0)
            ? { docs: 'docs/postgres-behaviours.md#not-valid-foreign-keys' }
            : {}),
        },
      );
    return 'swap';
  }
  return obstacles.length === 0 ? 'swap' : checkedDelete(state, tables, where);
}

/**
 * The delete strategy removes the moved rows from DEFAULT before their partition is attached, a
 * DELETE that fires what any DELETE from DEFAULT fires:
 * - a foreign key from outside the family with ON DELETE CASCADE, SET NULL or SET DEFAULT would
 *   delete or change the rows that reference the moved ones, unless the role may set
 *   session_replication_role = replica (then foreign key actions do not fire);
 * - the app's own DELETE triggers on DEFAULT (an audit row, a cleanup of another table) would
 *   take each moved row for a deleted one: an ordinary trigger unless replica is set, one
 *   enabled ALWAYS whatever it says, one enabled REPLICA exactly when it is set.
 * Either is refused before anything is written.
 */
function checkedDelete(state: DrainState, tables: DrainTableState[], where: string): DrainStrategy {
  const replica = state.canSkipTriggers;
  const keys = replica
    ? []
    : tables.flatMap((t) =>
        t.outsideDeleteActions.map(
          (fk) => `${fk.table}.${fk.name} (ON DELETE ${fk.action}) to ${t.table}`,
        ),
      );
  const triggers = tables.flatMap((t) =>
    t.defaultDeleteTriggers
      .filter((g) => g.enabled === 'A' || g.enabled === (replica ? 'R' : 'O'))
      .map((g) => ({ ...g, on: t.defaultPartition ?? t.table })),
  );
  if (keys.length === 0 && triggers.length === 0) return 'delete';
  const reasons: string[] = [];
  if (keys.length > 0) {
    reasons.push(
      `${keys.join(', ')} would ${keys.length === 1 ? 'act' : 'each act'} on the rows referencing them`,
    );
  }
  if (triggers.length > 0) {
    const named = triggers.map(
      (g) =>
        `${quoteIdent(g.name)} on ${g.on}${g.enabled === 'A' ? ' (ENABLE ALWAYS)' : g.enabled === 'R' ? ' (ENABLE REPLICA)' : ''}`,
    );
    reasons.push(
      `the app's DELETE ${triggers.length === 1 ? 'trigger' : 'triggers'} ${named.join(', ')} would ` +
        `fire for each moved row as if it were deleted`,
    );
  }
  const grant =
    state.serverVersion >= 150000
      ? 'let the role set it (GRANT SET ON PARAMETER session_replication_role TO <the role>) and drain again'
      : 'drain as a superuser (PostgreSQL 14 lets only a superuser set it)';
  const always = triggers.filter((g) => g.enabled !== 'O');
  const needsGrant = !replica && (keys.length > 0 || triggers.some((g) => g.enabled === 'O'));
  const ways = [
    ...(needsGrant ? [grant] : []),
    ...(always.length > 0
      ? [
          `disable the trigger${always.length === 1 ? '' : 's'} enabled ALWAYS or REPLICA for the drain ` +
            '(ALTER TABLE ... DISABLE TRIGGER: such a trigger fires whatever ' +
            'session_replication_role says) and drain again',
        ]
      : []),
  ];
  const cannotSkip = needsGrant
    ? `; the role cannot set session_replication_role = replica, which keeps foreign key actions ${triggers.length > 0 ? 'and ordinary triggers ' : ''}from firing, so`
    : ';';
  throw new PgpartsError(
    'refused',
    `pgparts: drain: ${where}: moving the rows deletes them from DEFAULT before their partition ` +
      `is attached, and ${reasons.join('; and ')}${cannotSkip} nothing was changed: ${ways.join('; and ')}`,
    { step: 'drain', docs: 'docs/postgres-behaviours.md#cascade-on-move' },
  );
}

function emptyResult(
  base: { family: string; key: string },
  started: number,
  status: DrainResult['status'],
  swap: SwapCompletion | null,
): DrainResult {
  return {
    ...base,
    status,
    strategy: swap ? 'swap' : null,
    tables: [],
    rowsMoved: 0,
    rowsCopiedOnline: 0,
    copyConnections: 0,
    elapsedMs: performance.now() - started,
    maxLockHoldMs: 0,
    finalPhase: NO_FINAL_PHASE,
    finalAttempts: 0,
    skippedTriggers: false,
    swap,
  };
}

/**
 * Drains `key` (see above) on one pinned connection whose session has pgparts's settings (no
 * statement_timeout or idle timeout from the role or database, no JIT), restored at the end.
 */
export async function drainKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: DrainOptions = {},
): Promise<DrainResult> {
  return asOperation('drain', () => drainKeyChecked(db, family, key, options));
}

async function drainKeyChecked(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: DrainOptions = {},
): Promise<DrainResult> {
  checkOptions('drain', drainOptionsSchema, options);
  checkDatabase('drain', db);
  checkKeyShape('drain', key);
  const label = key.kind === 'default' ? 'DEFAULT' : keyLabel(key);
  // One connection for the key's lock and the work (a pool of one suffices, as for apply).
  await preflightPrivileges(db, 'drain', [family]);
  const session = await openSession(db, { settings: pgpartsSessionSettings() });
  const s = session.db;
  try {
    // The key's lock and record first: a retire of this key waits for no drain, it is refused.
    return await withKeyOperation(s, family, label, 'drain', async (op) => {
      // A typo changes nothing: the key is checked before the first change.
      await checkKey(s, family, key, 'drain', {
        resuming: op.resuming !== null,
        lock: readLock(options),
      });
      await ensureOwnership(s, family);
      const onPhase = options.onPhase;
      try {
        return await drainUnderKeyLock(s, family, key, op, {
          ...options,
          beside: options.beside ?? (session.kind === 'as-given' ? undefined : db),
          onPhase: async (phase) => {
            // 'locked' comes inside the final transaction: its record waits for the commit (on a
            // single-connection driver, a statement beside that transaction would wait for it).
            if (phase !== 'locked') await op.phase(phase);
            await onPhase?.(phase);
          },
        });
      } catch (error) {
        throw await recordFailure(op, family, key, error);
      }
    });
  } finally {
    await session.release();
  }
}

/**
 * SQLSTATE classes of failures a later run may not meet: connection (08), transaction rollback
 * (40: deadlocks, serialization), insufficient resources (53: disk full), operator intervention
 * (57: cancel, shutdown), system errors (58).
 */
const PASSING_CLASSES = new Set(['08', '40', '53', '57', '58']);

/**
 * Whether `error` will stop every run of this drain the same way until someone changes
 * something (a table's shape, a constraint, a privilege): a server error or a refusal of
 * pgparts's, not a lock timeout, a lost connection, another session holding the key, or a
 * server error of a passing kind. Anything else (an error thrown by a caller's callback, a
 * process stopped) says nothing about the next run.
 */
function isLasting(error: unknown): boolean {
  if (!isPgpartsError(error) || isConnectionLoss(error) || isLockConflict(error)) return false;
  if (['lock-timeout', 'busy', 'connection'].includes(error.code)) return false;
  return !(error.sqlState && PASSING_CLASSES.has(error.sqlState.slice(0, 2)));
}

/**
 * A drain that failed after its record was written: the record says how (status prints it), or
 * says nothing for a passing failure (the next run may well finish it). A lasting one fails
 * every run alike, so the error says how to give the drain up. Returns the error to throw.
 */
async function recordFailure(
  op: KeyOperation,
  family: FamilySpec,
  key: PartitionKey,
  error: unknown,
): Promise<unknown> {
  const failure = asOperationError('drain', error);
  if (isConnectionLoss(failure)) return failure;
  const lasting = isLasting(failure);
  const message = failure instanceof Error ? failure.message : String(failure);
  let recorded = false;
  try {
    recorded = await op.note(lasting ? failedDrainDetail(new Date(), message) : null);
  } catch {
    // The record keeps what it had; the failure itself is what matters.
  }
  if (!recorded || !lasting || !(failure instanceof PgpartsError)) return failure;
  const hint =
    'the drain stays recorded (its tables and capture triggers kept, every row still in ' +
    'DEFAULT): the next drain or apply of the key tries again and fails alike until the cause ' +
    `is fixed. To give it up instead, without losing a row: ${abandonCommand(family, keyLabel(key))}`;
  return new PgpartsError(failure.code, `${failure.message}; ${hint}`, {
    ...(failure.step ? { step: failure.step } : {}),
    ...(failure.table ? { table: failure.table } : {}),
    ...(failure.docs ? { docs: failure.docs } : {}),
    hint,
    cause: failure.cause ?? failure,
  });
}

/** The drain's lock options, for its reads (readDrainState, checkKey). */
export function readLock({
  lockTimeoutMs,
  retries,
  onRetry,
}: Pick<DrainOptions, 'lockTimeoutMs' | 'retries' | 'onRetry'>): Omit<
  ShortTransactionOptions,
  'what'
> {
  return { lockTimeoutMs, retries, onRetry };
}

/** What drainKey will do for `key`, read from the database and built before anything runs. */
export interface DrainPreview {
  /** Tables still to drain; empty when the key has its partitions already. */
  pending: DrainTableState[];
  strategy: DrainStrategy | null;
  statements: DrainStatements | null;
  /** What an interrupted swap left, finished first. */
  leftover: DrainUnit[];
}

/** Reads the drain's state and builds its statements: what drainKey runs, and a dry run prints. */
export async function previewDrain(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: DrainOptions = {},
): Promise<{ state: DrainState; preview: DrainPreview }> {
  const state = await readDrainState(db, family, key, readLock(options));
  return { state, preview: buildDrain(family, key, state, options) };
}

function buildDrain(
  family: FamilySpec,
  key: PartitionKey,
  state: DrainState,
  options: DrainOptions,
): DrainPreview {
  const pending = validate(family, key, state);
  checkOtherDrains(family, `family ${family.name}, key ${keyLabel(key)}`, state);
  const leftover =
    state.unvalidatedForeignKeys.length > 0 || state.drainedDefaults.length > 0
      ? completeSwapUnits(family, state.drainedDefaults, state.unvalidatedForeignKeys)
      : [];
  if (pending.length === 0) return { pending, strategy: null, statements: null, leftover };
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const strategy = chooseStrategy(state, pending, options, where);
  return {
    pending,
    strategy,
    statements: drainStatements(family, key, state, pending, strategy, {
      lockTimeoutMs: options.lockTimeoutMs,
      maintenanceWorkMem: options.maintenanceWorkMem,
    }),
    leftover,
  };
}

/**
 * What drainKey would run, without running it (`pgparts drain --dry-run`): the key is checked
 * and the state read as for a drain; nothing is written.
 */
export async function drainDryRun(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: DrainOptions = {},
): Promise<{ preview: DrainPreview; statements: string[] }> {
  checkOptions('drain', drainOptionsSchema, options);
  checkDatabase('drain', db);
  checkKeyShape('drain', key);
  const session = await openSession(db, { settings: pgpartsSessionSettings() });
  try {
    const s = session.db;
    const [unfinished] = await readOperations(s, family, keyLabel(key));
    await checkKey(s, family, key, 'drain', {
      resuming: unfinished?.operation === 'drain',
      lock: readLock(options),
    });
    const { preview } = await previewDrain(s, family, key, options);
    return { preview, statements: drainPreviewSql(family, preview, options) };
  } finally {
    await session.release();
  }
}

/** The statements of a preview in the order they run (templates say so), for a dry run. */
export function drainPreviewSql(
  family: FamilySpec,
  preview: DrainPreview,
  options: DrainOptions = {},
): string[] {
  if (!preview.statements) return preview.leftover.flatMap((u) => u.statements);
  return listDrainStatements(preview.statements, family, options);
}

async function drainUnderKeyLock(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  op: KeyOperation,
  options: DrainOptions,
): Promise<DrainResult> {
  const started = performance.now();
  const initial = await readDrainState(db, family, key, readLock(options));
  // Every statement is built here, from what was read, before the first one runs.
  const built = buildDrain(family, key, initial, options);
  const base = { family: family.name, key: keyLabel(key) };
  // A swap interrupted after its commit (this key's or another's) may have left work: finish it
  // first; an old DEFAULT left under its `_drained` name would also be in the next swap's way.
  const leftover =
    built.leftover.length > 0
      ? await completeSwap(db, family, initial, built.leftover, options)
      : null;
  const ds = built.statements;
  if (!ds) {
    return emptyResult(base, started, leftover ? 'completed' : 'nothing-to-do', leftover);
  }
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const strategy = ds.strategy;

  // 1. prepare: capture first, so no write between the copy and the final phase goes unseen.
  await op.begin('prepare');
  // Two drains of the family that began together both passed the check above: the one recorded
  // first goes on, the other withdraws its record (it has made nothing).
  const drains = (await readOperations(db, family)).filter((o) => o.operation === 'drain');
  const mine = drains.find((o) => o.key === keyLabel(key));
  const first = drains.find((o) => o.key !== keyLabel(key) && mine && recordedBefore(o, mine));
  if (first) {
    if (!op.resuming) await op.end();
    throw otherDrainError(family, where, first);
  }
  await options.onProgress?.({ phase: 'prepare', done: 0, total: built.pending.length });
  await runUnits(db, ds.prepare, options);
  await options.onPhase?.('prepared');

  // 2. copy and replay, online. Pages are read again now: the trigger sees everything after this.
  const pages = await readDefaultPages(
    db,
    family,
    ds.tables.map((p) => p.t),
    readLock(options),
  );
  const copies = ds.tables.map((p) => {
    const t = { ...p.t, defaultPages: pages.get(p.t.table) ?? p.t.defaultPages };
    return { p, t, beside: copyBesideAsked(t.defaultPages, options) };
  });
  // The copy, then the indexes (built once the rows are in: the replays' upserts need the
  // primary key): both two at a time where the pool has a second connection free
  // (options.sideBySide).
  const buildsBeside = ds.indexBuilds.some((b) => buildsBesideAsked(b, options));
  const second =
    options.beside && (copies.some((c) => c.beside) || buildsBeside)
      ? await secondSession(options.beside)
      : null;
  let rowsCopiedOnline = 0;
  let copyConnections = 1;
  // Rows in each staging table, kept up to date from here to the final phase: what the copy put
  // there, less the doubles an index build removes, plus what each replay gains (its count, from
  // its own snapshot). Right for a table this run fills from empty; one an earlier run left rows
  // in is counted instead (ds.stagedCounts, below).
  const filled = new Map<string, number>();
  try {
    for (const { p, t, beside } of copies) {
      const lane = beside ? (second?.db ?? null) : null;
      if (lane) copyConnections = 2;
      const copied = await copyBlocks(db, lane, family, t, p.targets, options);
      for (const rows of copied.values()) rowsCopiedOnline += rows;
      filled.set(p.t.table, copied.get(p.t.target) ?? 0);
    }
    await options.onPhase?.('copied');
    const removed = await buildIndexes(db, buildsBeside ? (second?.db ?? null) : null, ds, options);
    for (const p of ds.tables) addCount(filled, p.t.table, -(removed.get(p.t.target) ?? 0));
  } finally {
    await second?.release();
  }
  await options.onPhase?.('indexed');
  // Fresh statistics on the staging tables when foreign keys are validated on them, so that
  // the validation plans with real row counts. Not on a successor DEFAULT: often empty, it would
  // go live analyzed as empty, and a season loaded into DEFAULT right after had every foreign
  // key check of its members planned as a sequential scan of the runs there (a 45 s load still
  // running after 6 min). Never analyzed, the planner sizes it from its pages until autovacuum
  // does.
  for (const statement of ds.analyzeStaging) await run(db, statement);
  addCounts(filled, await replayAll(db, ds, options));
  // The validation joins the staged rows with the referenced tables: plan it on real
  // statistics (autovacuum never analyzes a partitioned parent).
  for (const statement of ds.analyzeReferenced) await run(db, statement);
  await options.onPhase?.('keys');
  addCounts(filled, await addStagedForeignKeys(db, ds, options));
  // What was logged while the keys were validated; without keys the final phase's replay is the
  // next one.
  if (ds.foreignKeys.length > 0) addCounts(filled, await replayAll(db, ds, options));
  await options.onPhase?.('replayed');
  // The staging tables change only through this drain: their rows now, plus what the final
  // replay adds, are the rows moved, without counting under the locks. One an earlier run left
  // rows in is counted now.
  const staged = new Map<string, number>(filled);
  for (const c of ds.stagedCounts) staged.set(c.table, await count(db, c.sql));

  // 3. finish: one short transaction, retried on lock timeouts.
  let lockHoldMs = 0;
  let moved = new Map<string, number>();
  let finalPhase = NO_FINAL_PHASE;
  const outcome = await retryOnLockTimeout(
    async () => {
      await options.onPhase?.('finishing');
      const result = await finish(db, family, ds, staged, options);
      lockHoldMs = Math.max(lockHoldMs, result.lockHoldMs);
      moved = result.moved;
      finalPhase = result.times;
    },
    { retries: options.retries, onRetry: options.onRetry },
  );
  if (outcome.error !== undefined) {
    throw outcomeError(
      outcome,
      `drain ${where} (final phase)`,
      options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    );
  }
  await options.onProgress?.({ phase: 'finish', done: 1, total: 1 });

  let swap: SwapCompletion | null = null;
  if (strategy === 'swap' && ds.completion) {
    await options.onPhase?.('validating');
    swap = await completeSwap(db, family, ds.completion, ds.after, options);
  } else {
    // A successor DEFAULT left by an earlier swap attempt is no longer needed.
    await runUnits(db, ds.after, options);
  }

  const tables = built.pending.map((t) => ({
    table: t.table,
    partition: t.target,
    rowsMoved: moved.get(t.table) ?? 0,
  }));
  return {
    ...base,
    status: 'drained',
    strategy,
    tables,
    rowsMoved: tables.reduce((sum, t) => sum + t.rowsMoved, 0),
    rowsCopiedOnline,
    copyConnections,
    elapsedMs: performance.now() - started,
    maxLockHoldMs: lockHoldMs,
    finalPhase,
    finalAttempts: outcome.attempts,
    skippedTriggers: ds.skipTriggers,
    swap,
  };
}
