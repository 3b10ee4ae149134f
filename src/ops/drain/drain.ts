import { MANAGED_MARKER } from '../../define/marker.js';
import { keyLabel, type PartitionKey } from '../../define/partition-key.js';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { query, run } from '../../run/execute.js';
import { type KeyOperation, withKeyOperation } from '../../run/key-lock.js';
import {
  checkLockOptions,
  DEFAULT_LOCK_TIMEOUT_MS,
  inShortTransaction,
  isLockConflict,
  lockedTransactionSql,
  lockGiveUpError,
  lockTimeoutSql,
  retryOnLockTimeout,
} from '../../run/lock-timeout.js';
import { preflightPrivileges } from '../../run/privileges.js';
import { openSession, pgpartsSessionSettings } from '../../run/session.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { keyCheckSql, keyPredicateSql } from '../../sql/key-predicate.js';
import { integerLiteral, textLiteral } from '../../sql/literals.js';
import { forgetOwnedSql, recordOwnedSql, setOwnedRoleSql } from '../../sql/ownership.js';
import { boundSpecSql } from '../../sql/partition-ddl.js';
import { checkKey } from '../key-validation.js';
import { ensureOwnership } from '../ownership.js';
import { validateForeignKey } from '../validate-foreign-key.js';
import {
  CHANGE_LOG_TABLE,
  captureFunctionExistsSql,
  captureTriggerSql,
  changeCaptureSetupSql,
  dropCaptureTriggerSql,
  REPLAY_BATCH_TABLE,
  replaySql,
} from './change-capture.js';
import { type DrainState, type DrainTableState, readDrainState, STAGING_MARKER } from './state.js';
import {
  completeSwap,
  type DrainStrategy,
  nextDefaultSql,
  type SwapCompletion,
  swapInTransaction,
  swapObstacles,
} from './swap.js';

/**
 * drainKey: gives a key that landed in DEFAULT its own partitions, for every table of a family,
 * online and without losing a row.
 *
 * 1. prepare: a change-capture trigger on each DEFAULT partition (every later write to it is
 *    logged), then a staging table per family table, shaped LIKE the parent and carrying a CHECK
 *    equal to the key's partition bound (so ATTACH skips its validation scan, docs/postgres-behaviours.md#attach-without-scan).
 * 2. copy: the key's rows from each DEFAULT into its staging table in block ranges (TID range
 *    scans), while writers keep writing; then replay the logged changes, a few rounds.
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
 * staging tables and triggers stay, and running drainKey again resumes: copies skip rows already
 * there (ON CONFLICT DO NOTHING) and the log brings changed rows up to date. A half-built
 * partition is never attached.
 *
 * The key is checked before anything is made (key-validation.ts), and the drain holds the key's
 * lock and record (run/key-lock.ts) throughout: a retire of the key, or a second drain, is
 * refused while it runs, and after a crash until a drain or apply has finished it. Its staging
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
   * How the final phase takes the rows out of DEFAULT: `swap` (a rebuilt DEFAULT swapped in,
   * milliseconds of locks whatever the size; PostgreSQL 18 when the family has foreign keys
   * between its tables), `delete` (the key's rows deleted from DEFAULT under the locks, as long
   * as the rows moved), or `auto` (default): swap on PostgreSQL 18+ when nothing prevents it.
   */
  strategy?: 'auto' | DrainStrategy;
  onProgress?: (progress: DrainProgress) => void;
  /** Called before a retry after a lock timeout (attempt number, pause, the error). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** For tests: called between phases, to interrupt the drain at a chosen point. */
  onPhase?: (
    phase: 'prepared' | 'copied' | 'replayed' | 'finishing' | 'locked' | 'validating',
  ) => Promise<void> | void;
}

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

const STAGING_CHECK = 'pgparts_partition_bound';

/** The `n` column of a one-row query. */
async function count(db: AnyPgDatabase, statement: string): Promise<number> {
  const [row] = await query<{ n: number | string }>(db, statement);
  return Number(row?.n ?? 0);
}

/** DDL on live tables: its own short transaction, lock_timeout, retried on lock timeouts. */
async function ddl(db: AnyPgDatabase, statements: string[], options: DrainOptions): Promise<void> {
  await inShortTransaction(db, { ...options, what: 'drain' }, async (tx) => {
    for (const statement of statements) await run(tx, statement);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function validate(family: FamilySpec, key: PartitionKey, state: DrainState): DrainTableState[] {
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  if (key.kind === 'default')
    throw new PgpartsError('invalid-input', `pgparts: drain: ${where}: DEFAULT is not a key`, {
      step: 'drain',
    });
  if (key.kind !== family.partitionBy.strategy) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: drain: ${where}: a ${key.kind} key on a ${family.partitionBy.strategy} family`,
      { step: 'drain' },
    );
  }
  for (const t of state.tables) {
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

function stagingSql(family: FamilySpec, key: PartitionKey, t: DrainTableState): string[] {
  const staging = quoteQualified(family.schema, t.target);
  return [
    `CREATE TABLE ${staging} (LIKE ${quoteQualified(family.schema, t.table)} INCLUDING ALL EXCLUDING COMMENTS)`,
    `ALTER TABLE ${staging} ADD CONSTRAINT ${quoteIdent(STAGING_CHECK)} CHECK (${keyCheckSql(family, key)})`,
    `COMMENT ON TABLE ${staging} IS ${textLiteral(STAGING_MARKER)}`,
    // pgparts's own from its first moment: a retire or a user's COMMENT cannot mistake it.
    recordOwnedSql({
      schema: family.schema,
      family: family.name,
      parent: t.table,
      name: t.target,
      key: keyLabel(key),
      role: 'staging',
    }),
  ];
}

/** Where a table's rows from DEFAULT go: the key's to staging; for a swap the rest to `next`. */
interface CopyTarget {
  table: string;
  /** A condition on the DEFAULT row (alias "d" when `alias` is given). */
  filter: (alias?: string) => string;
}

function copyTargets(
  family: FamilySpec,
  key: PartitionKey,
  t: DrainTableState,
  strategy: DrainStrategy,
): CopyTarget[] {
  const targets: CopyTarget[] = [
    { table: t.target, filter: (alias) => keyPredicateSql(family, key, alias) },
  ];
  if (strategy === 'swap' && t.next) {
    // IS NOT TRUE: a row whose key column is NULL is not the key's, and stays in DEFAULT.
    targets.push({
      table: t.next,
      filter: (alias) => `(${keyPredicateSql(family, key, alias)}) IS NOT TRUE`,
    });
  }
  return targets;
}

async function copyBlocks(
  db: AnyPgDatabase,
  family: FamilySpec,
  t: DrainTableState,
  targets: CopyTarget[],
  options: DrainOptions,
): Promise<number> {
  if (!t.defaultPartition || t.defaultPages === 0) return 0;
  const batch = options.batchPages ?? 512;
  const cols = t.columns.map(quoteIdent).join(', ');
  let copied = 0;
  for (let page = 0; page < t.defaultPages; page += batch) {
    for (const target of targets) {
      // TID range scan (PostgreSQL 14+): reads just these blocks, whatever the table's size.
      copied += await count(
        db,
        `WITH copied AS (
  INSERT INTO ${quoteQualified(family.schema, target.table)} (${cols})
  SELECT ${cols} FROM ${quoteQualified(family.schema, t.defaultPartition)}
  WHERE ctid >= '(${integerLiteral(page)},0)'::tid AND ctid < '(${integerLiteral(page + batch)},0)'::tid
    AND ${target.filter()}
  ON CONFLICT DO NOTHING RETURNING 1)
SELECT count(*) AS n FROM copied`,
      );
    }
    options.onProgress?.({
      phase: 'copy',
      table: t.table,
      done: Math.min(page + batch, t.defaultPages),
      total: t.defaultPages,
    });
    if (options.throttleMs) await sleep(options.throttleMs);
  }
  return copied;
}

const REPLAY_BATCH = 20_000;

interface Replayed {
  /** Log entries replayed. */
  entries: number;
  /** Rows the staging table gained (inserted minus deleted). */
  stagedDelta: number;
}

/** Replays one batch of logged changes of a DEFAULT partition into its copy targets. */
async function replayOnce(
  db: AnyPgDatabase,
  family: FamilySpec,
  t: DrainTableState,
  targets: CopyTarget[],
): Promise<Replayed> {
  if (!t.defaultPartition) return { entries: 0, stagedDelta: 0 };
  const statements = replaySql(
    {
      schema: family.schema,
      source: t.defaultPartition,
      rowType: t.table,
      columns: t.columns,
      pkColumns: t.pkColumns,
      targets: targets.map((target) => ({ table: target.table, sourceFilter: target.filter('d') })),
    },
    REPLAY_BATCH,
  );
  return db.transaction(async (tx) => {
    // ON COMMIT DROP does not help several batches inside the final transaction.
    await run(tx, `DROP TABLE IF EXISTS pg_temp.${quoteIdent(REPLAY_BATCH_TABLE)}`);
    await run(tx, statements.pin);
    const entries = await count(tx, `SELECT count(*) AS n FROM ${quoteIdent(REPLAY_BATCH_TABLE)}`);
    let stagedDelta = 0;
    if (entries > 0) {
      // Each logged key is looked up in DEFAULT by its primary key; no sequential scan per key
      // (see replayAll on statistics). Switching seqscans off inflates the estimates of any
      // plan that keeps one (a table without a usable index) past jit_above_cost: no JIT here,
      // inside the final phase's locks or not, so a replay never waits for a compiler.
      await run(tx, 'SET LOCAL jit = off');
      await run(tx, 'SET LOCAL enable_seqscan = off');
      for (const target of statements.targets) {
        const deleted = await count(tx, target.deleted);
        const inserted = await count(tx, target.inserted);
        if (target.table === t.target) stagedDelta += inserted - deleted;
      }
      await run(tx, statements.forget);
      await run(tx, 'SET LOCAL enable_seqscan = on');
    }
    return { entries, stagedDelta };
  });
}

/** Replays until the log of every DEFAULT is empty (in the final phase, under its locks). */
async function replayToEmpty(
  db: AnyPgDatabase,
  family: FamilySpec,
  plans: TablePlan[],
): Promise<Map<string, number>> {
  const deltas = new Map<string, number>();
  for (const p of plans) {
    for (;;) {
      const r = await replayOnce(db, family, p.t, p.targets);
      deltas.set(p.t.table, (deltas.get(p.t.table) ?? 0) + r.stagedDelta);
      if (r.entries === 0) break;
    }
  }
  return deltas;
}

async function replayAll(
  db: AnyPgDatabase,
  family: FamilySpec,
  plans: TablePlan[],
  options: DrainOptions,
): Promise<void> {
  for (let round = 0; round < (options.replayRounds ?? 3); round++) {
    // Writers grow DEFAULT faster than autovacuum's statistics follow. Planned on stale ones,
    // the lookup of each logged key went through a narrower index than the primary key and
    // read thousands of rows per key: 1 ms a row, 86 s for 11k keys in the 8-writer test.
    // Fresh statistics each round (a sample: cheap at any size), which the final replay's plans
    // use too.
    for (const p of plans) {
      if (p.t.defaultPartition)
        await run(db, `ANALYZE ${quoteQualified(family.schema, p.t.defaultPartition)}`);
    }
    let replayed = 0;
    for (const p of plans) replayed += (await replayOnce(db, family, p.t, p.targets)).entries;
    options.onProgress?.({ phase: 'replay', done: round + 1, total: options.replayRounds ?? 3 });
    if (replayed === 0) return;
  }
}

/** One table of the drain with where its DEFAULT rows go. */
interface TablePlan {
  t: DrainTableState;
  targets: CopyTarget[];
}

/**
 * Adds foreign keys to a table being built (staging or a successor DEFAULT), NOT VALID then
 * validated, so that ATTACH adopts them instead of validating them under its locks.
 */
async function addForeignKeys(
  db: AnyPgDatabase,
  family: FamilySpec,
  table: string,
  keys: { name: string; definition: string }[],
  options: DrainOptions,
): Promise<void> {
  const target = quoteQualified(family.schema, table);
  for (const fk of keys) {
    const exists = await count(
      db,
      `SELECT count(*) AS n FROM pg_constraint WHERE conrelid = ${textLiteral(quoteQualified(family.schema, table))}::regclass
         AND conname = ${textLiteral(fk.name)}`,
    );
    if (exists === 0) {
      // The definition is the server's own text for the parent's constraint (pg_get_constraintdef).
      await ddl(
        db,
        [`ALTER TABLE ${target} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition} NOT VALID`],
        options,
      );
    }
    await validateForeignKey(db, target, fk.name, options);
  }
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
 * The final transaction: lock_timeout, one drain of the family at a time, the locks, then the
 * strategy's work. Returns when committed.
 */
async function finish(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  plans: TablePlan[],
  strategy: DrainStrategy,
  skipTriggers: boolean,
  staged: Map<string, number>,
  options: DrainOptions,
): Promise<FinishOutcome> {
  let lockedAt = 0;
  let moved = new Map<string, number>();
  const times = { ...NO_FINAL_PHASE };
  const tables = plans.map((p) => p.t);
  await db.transaction(async (tx) => {
    for (const setting of lockedTransactionSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS))
      await run(tx, setting);
    const guard = await count(
      tx,
      `SELECT CASE WHEN pg_try_advisory_xact_lock(hashtext(${textLiteral(`pgparts:drain:${family.schema}.${family.name}`)})) THEN 1 ELSE 0 END AS n`,
    );
    if (guard === 0)
      throw new PgpartsError(
        'busy',
        `pgparts: drain: another drain of family ${family.name} is finishing; try again`,
        { step: 'drain' },
      );
    const defaults = tables.filter((t) => t.defaultPartition);
    if (strategy === 'swap') {
      // DETACH needs ACCESS EXCLUSIVE on each parent: reads and writes of the family wait for
      // this transaction, which does only catalog work. Taken in two rounds, each in the
      // family's order (referenced first, as writers take theirs). SHARE ROW EXCLUSIVE first:
      // it stops new writes but not the foreign key checks (ROW SHARE) of a writer already
      // inside its transaction, which can finish. Then ACCESS EXCLUSIVE, waiting on readers
      // only. Taking ACCESS EXCLUSIVE at once deadlocks: a writer holding the runs parent and
      // wanting the members parent, while its member's key check waits on the locked runs.
      for (const mode of ['SHARE ROW EXCLUSIVE', 'ACCESS EXCLUSIVE']) {
        for (const table of family.tables) {
          await run(tx, `LOCK TABLE ${quoteQualified(family.schema, table)} IN ${mode} MODE`);
        }
      }
      // DETACH turns the DEFAULT's inherited keys to other tables (season, dungeon...) into
      // its own, which locks those tables ACCESS EXCLUSIVE. Taken here, after the parents: a
      // writer checking its run's season while holding the dungeon deadlocked with the DETACH.
      // (regclass text is already quoted as needed.)
      const outside = [...new Set(tables.flatMap((t) => t.outsideReferencedTables))].sort();
      if (outside.length > 0) {
        await run(tx, `LOCK TABLE ${outside.join(', ')} IN ACCESS EXCLUSIVE MODE`);
      }
    } else {
      // Locks in the order writers take them (referenced table before referencing), all up
      // front, so a writer holding a run and waiting for its members cannot deadlock with the
      // ATTACH. Attaching a referencing partition needs SHARE ROW EXCLUSIVE on the referenced
      // parent: writes to that parent wait for the rest of this transaction; reads go on.
      // Every lock the ATTACHes will take is taken here, none later (docs/locking.md): an
      // ATTACH asking for a stronger lock after the replay and delete held the others for their
      // whole length, and a writer waiting on them hit its deadlock check (3 app transactions
      // aborted with 40P01 in the writers test). The referencing parents get SHARE ROW
      // EXCLUSIVE (attaching a referenced partition adds its share of their keys); DEFAULT
      // ACCESS EXCLUSIVE, last (ATTACH proves DEFAULT holds none of the key). All the waits
      // together stay within lock_timeout, each lock getting its share of it, so a writer
      // queued behind them is released before deadlock_timeout.
      const referenced = new Set(tables.flatMap((t) => t.referencedTables));
      const locks = [
        ...family.tables
          .filter((name) => referenced.has(name))
          .map(
            (name) =>
              `LOCK TABLE ${quoteQualified(family.schema, name)} IN SHARE ROW EXCLUSIVE MODE`,
          ),
        ...family.tables
          .filter((name) => !referenced.has(name))
          .map(
            (name) =>
              `LOCK TABLE ONLY ${quoteQualified(family.schema, name)} IN SHARE ROW EXCLUSIVE MODE`,
          ),
        ...(defaults.length > 0
          ? [
              `LOCK TABLE ${defaults.map((t) => quoteQualified(family.schema, t.defaultPartition as string)).join(', ')} IN ACCESS EXCLUSIVE MODE`,
            ]
          : []),
      ];
      const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
      await run(
        tx,
        `SET LOCAL ${lockTimeoutSql(Math.max(1, Math.floor(lockTimeoutMs / locks.length)))}`,
      );
      for (const statement of locks) await run(tx, statement);
      await run(tx, `SET LOCAL ${lockTimeoutSql(lockTimeoutMs)}`);
    }
    lockedAt = performance.now();
    await options.onPhase?.('locked');
    const lap = stopwatch();
    const deltas = await replayToEmpty(
      tx,
      family,
      plans.filter((p) => p.t.defaultPartition),
    );
    times.replayMs = lap();

    const attachKey = async (t: DrainTableState) => {
      const staging = quoteQualified(family.schema, t.target);
      await run(
        tx,
        `ALTER TABLE ${quoteQualified(family.schema, t.table)} ATTACH PARTITION ${staging} ${boundSpecSql(key)}`,
      );
      await run(tx, `ALTER TABLE ${staging} DROP CONSTRAINT ${quoteIdent(STAGING_CHECK)}`);
      await run(tx, `COMMENT ON TABLE ${staging} IS ${textLiteral(MANAGED_MARKER)}`);
      await run(tx, setOwnedRoleSql(family.schema, family.schema, t.target, 'partition'));
    };

    if (strategy === 'swap') {
      // Nothing is deleted: the staging tables hold exactly the key's rows of DEFAULT.
      moved = new Map(
        tables.map((t) => [t.table, (staged.get(t.table) ?? 0) + (deltas.get(t.table) ?? 0)]),
      );
      await swapInTransaction(tx, family, tables, attachKey);
      times.attachMs = lap();
      for (const t of tables.filter((t) => t.defaultPartition)) {
        await run(
          tx,
          `COMMENT ON TABLE ${quoteQualified(family.schema, t.defaultPartition as string)} IS ${textLiteral(MANAGED_MARKER)}`,
        );
      }
    } else {
      if (skipTriggers) await run(tx, `SET LOCAL session_replication_role = replica`);
      // Referencing tables first: without the replica role, the cascade from the referenced
      // DEFAULT then has nothing left to delete, and the staged rows have no foreign key to reach.
      for (const t of [...defaults].reverse()) {
        const n = await count(
          tx,
          `WITH gone AS (DELETE FROM ${quoteQualified(family.schema, t.defaultPartition as string)}
  WHERE ${keyPredicateSql(family, key)} RETURNING 1) SELECT count(*) AS n FROM gone`,
        );
        moved.set(t.table, n);
      }
      if (skipTriggers) await run(tx, `SET LOCAL session_replication_role = origin`);
      times.deleteMs = lap();
      for (const t of tables) await attachKey(t);
      times.attachMs = lap();
      for (const t of defaults) {
        await run(tx, dropCaptureTriggerSql(family.schema, t.defaultPartition as string));
      }
    }
    for (const t of defaults) {
      await run(
        tx,
        `DELETE FROM ${quoteQualified(family.schema, CHANGE_LOG_TABLE)} WHERE source_table = ${textLiteral(t.defaultPartition as string)}`,
      );
    }
  });
  const lockHoldMs = performance.now() - lockedAt;
  times.otherMs = Math.max(0, lockHoldMs - times.replayMs - times.deleteMs - times.attachMs);
  return { moved, lockHoldMs, times };
}

/** Which final phase to run: the option, or for `auto` a swap on PostgreSQL 18+ if it can. */
function chooseStrategy(
  state: DrainState,
  tables: DrainTableState[],
  options: DrainOptions,
  where: string,
): DrainStrategy {
  const wanted = options.strategy ?? 'auto';
  if (wanted === 'delete') return 'delete';
  const obstacles = swapObstacles(state, tables);
  if (wanted === 'swap') {
    if (obstacles.length > 0)
      throw new PgpartsError(
        'refused',
        `pgparts: drain: ${where}: cannot swap: ${obstacles.join('; ')}`,
        { step: 'drain', docs: 'docs/postgres-behaviours.md#not-valid-foreign-keys' },
      );
    return 'swap';
  }
  return state.serverVersion >= 180000 && obstacles.length === 0 ? 'swap' : 'delete';
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
  const label = key.kind === 'default' ? 'DEFAULT' : keyLabel(key);
  // One connection for the key's lock and the work (a pool of one suffices, as for apply).
  checkLockOptions(options, 'drain');
  await preflightPrivileges(db, 'drain', [family]);
  const session = await openSession(db, { settings: pgpartsSessionSettings() });
  const s = session.db;
  try {
    // The key's lock and record first: a retire of this key waits for no drain, it is refused.
    return await withKeyOperation(s, family, label, 'drain', async (op) => {
      // A typo changes nothing: the key is checked before the first change.
      await checkKey(s, family, key, 'drain', { resuming: op.resuming !== null });
      await ensureOwnership(s, family);
      const onPhase = options.onPhase;
      return drainUnderKeyLock(s, family, key, op, {
        ...options,
        onPhase: async (phase) => {
          // 'locked' comes inside the final transaction: its record waits for the commit (on a
          // single-connection driver, a statement beside that transaction would wait for it).
          if (phase !== 'locked') await op.phase(phase);
          await onPhase?.(phase);
        },
      });
    });
  } finally {
    await session.release();
  }
}

async function drainUnderKeyLock(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  op: KeyOperation,
  options: DrainOptions,
): Promise<DrainResult> {
  const started = performance.now();
  const initial = await readDrainState(db, family, key);
  const pending = validate(family, key, initial);
  const base = { family: family.name, key: keyLabel(key) };
  // A swap interrupted after its commit (this key's or another's) may have left work: finish it
  // first; an old DEFAULT left under its `_drained` name would also be in the next swap's way.
  const leftover =
    initial.unvalidatedForeignKeys.length > 0 || initial.drainedDefaults.length > 0
      ? await completeSwap(db, family, initial, options)
      : null;
  if (pending.length === 0) {
    return emptyResult(base, started, leftover ? 'completed' : 'nothing-to-do', leftover);
  }
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const strategy = chooseStrategy(initial, pending, options, where);

  // 1. prepare: capture first, so no write between the copy and the final phase goes unseen.
  await op.begin('prepare');
  options.onProgress?.({ phase: 'prepare', done: 0, total: pending.length });
  const functionExists = (await count(db, captureFunctionExistsSql(family.schema))) > 0;
  for (const statement of changeCaptureSetupSql(family.schema, functionExists))
    await run(db, statement);
  for (const t of pending) {
    if (t.defaultPartition && !t.captureInstalled) {
      await ddl(db, [captureTriggerSql(family.schema, t.defaultPartition, t.pkColumns)], options);
      // A table built without the trigger in place may have missed changes: start it afresh.
      if (t.targetState === 'staging')
        await run(db, `TRUNCATE ${quoteQualified(family.schema, t.target)}`);
      if (t.nextState === 'staging' && t.next)
        await run(db, `TRUNCATE ${quoteQualified(family.schema, t.next)}`);
    }
    if (t.targetState === 'absent') await ddl(db, stagingSql(family, key, t), options);
    if (strategy === 'swap') {
      if (t.defaultPartition && t.nextState === 'absent')
        await ddl(db, nextDefaultSql(family, key, t), options);
      // A run begun by the delete strategy may have given the staging table the family's keys;
      // they reach into the DEFAULT the swap detaches, so they go (the swap adds them back).
      for (const fk of t.familyForeignKeys) {
        await ddl(
          db,
          [
            `ALTER TABLE ${quoteQualified(family.schema, t.target)} DROP CONSTRAINT IF EXISTS ${quoteIdent(fk.name)}`,
          ],
          options,
        );
      }
    }
  }
  await options.onPhase?.('prepared');

  // 2. copy and replay, online. Pages are re-read now: the trigger sees everything after this.
  const state = validate(family, key, await readDrainState(db, family, key));
  const plans: TablePlan[] = state.map((t) => ({
    t,
    targets: copyTargets(family, key, t, strategy),
  }));
  let rowsCopiedOnline = 0;
  for (const p of plans) rowsCopiedOnline += await copyBlocks(db, family, p.t, p.targets, options);
  // Fresh statistics on the staging tables, so replays and the FK validation plan with the real
  // row counts. Not on a successor DEFAULT: often empty, it would go live analyzed as empty, and
  // a season loaded into DEFAULT right after had every foreign key check of its members planned
  // as a sequential scan of the runs there (a 45 s load still running after 6 min). Never
  // analyzed, the planner sizes it from its pages until autovacuum does.
  for (const p of plans) {
    await run(db, `ANALYZE ${quoteQualified(family.schema, p.t.target)}`);
  }
  await options.onPhase?.('copied');
  await replayAll(db, family, plans, options);
  const skipTriggers = strategy === 'delete' && initial.canSkipTriggers;
  if (skipTriggers || strategy === 'swap') {
    // The validation joins the staged rows with the referenced tables: plan it on real
    // statistics (autovacuum never analyzes a partitioned parent).
    const referenced = new Set(state.flatMap((t) => t.referencedTables));
    for (const table of referenced) {
      await run(db, `ANALYZE ${quoteQualified(family.schema, table)}`);
    }
  }
  for (const p of plans) {
    if (strategy === 'swap') {
      // The family's own keys are dropped and added back by the swap; the keys to other tables
      // are validated now, online, so that ATTACH adopts them.
      for (const target of p.targets)
        await addForeignKeys(db, family, target.table, p.t.outsideForeignKeys, options);
    } else if (skipTriggers) {
      await addForeignKeys(db, family, p.t.target, p.t.familyForeignKeys, options);
    }
  }
  await replayAll(db, family, plans, options);
  await options.onPhase?.('replayed');
  // The staging tables change only through this drain: counted now, they give the rows moved
  // (plus what the final replay adds) without counting under the locks.
  const staged = new Map<string, number>();
  if (strategy === 'swap') {
    for (const t of state) {
      staged.set(
        t.table,
        await count(db, `SELECT count(*) AS n FROM ${quoteQualified(family.schema, t.target)}`),
      );
    }
  }

  // 3. finish: one short transaction, retried on lock timeouts.
  let lockHoldMs = 0;
  let moved = new Map<string, number>();
  let finalPhase = NO_FINAL_PHASE;
  const outcome = await retryOnLockTimeout(
    async () => {
      await options.onPhase?.('finishing');
      const result = await finish(db, family, key, plans, strategy, skipTriggers, staged, options);
      lockHoldMs = Math.max(lockHoldMs, result.lockHoldMs);
      moved = result.moved;
      finalPhase = result.times;
    },
    { retries: options.retries, onRetry: options.onRetry },
  );
  if (outcome.error !== undefined) {
    throw isLockConflict(outcome.error)
      ? lockGiveUpError(
          `drain ${where} (final phase)`,
          outcome.attempts,
          options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
          outcome.error,
        )
      : outcome.error;
  }
  options.onProgress?.({ phase: 'finish', done: 1, total: 1 });

  let swap: SwapCompletion | null = null;
  if (strategy === 'swap') {
    await options.onPhase?.('validating');
    swap = await completeSwap(db, family, await readDrainState(db, family, key), options);
  } else {
    // A successor DEFAULT left by an earlier swap attempt is no longer needed.
    for (const t of state.filter((t) => t.next && t.nextState === 'staging')) {
      await ddl(
        db,
        [
          forgetOwnedSql(family.schema, family.schema, t.next as string),
          `DROP TABLE ${quoteQualified(family.schema, t.next as string)}`,
        ],
        options,
      );
    }
  }

  const tables = state.map((t) => ({
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
    elapsedMs: performance.now() - started,
    maxLockHoldMs: lockHoldMs,
    finalPhase,
    finalAttempts: outcome.attempts,
    skippedTriggers: skipTriggers,
    swap,
  };
}
