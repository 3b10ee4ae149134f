import {
  CHANGE_LOG_TABLE,
  captureFunctionExistsSql,
  captureTriggerSql,
  changeCaptureSetupSql,
  dropCaptureTriggerSql,
  REPLAY_BATCH_TABLE,
  replaySql,
} from './change-capture.js';
import type { AnyPgDatabase } from './database.js';
import { boundSpecSql } from './ddl.js';
import {
  type DrainState,
  type DrainTableState,
  readDrainState,
  STAGING_MARKER,
} from './drain-state.js';
import { query, run } from './execute.js';
import { quoteIdent, quoteQualified } from './identifiers.js';
import { keyCheckSql, keyPredicateSql } from './key-predicate.js';
import { integerLiteral, textLiteral } from './literals.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  inShortTransaction,
  lockTimeoutSql,
  retryOnLockTimeout,
} from './lock-timeout.js';
import { MANAGED_MARKER } from './marker.js';
import { keyLabel, type PartitionKey } from './partition-key.js';
import type { FamilySpec } from './spec.js';

/**
 * drainKey: gives a key that landed in DEFAULT its own partitions, for every table of a family,
 * online and without losing a row.
 *
 * 1. prepare: a change-capture trigger on each DEFAULT partition (every later write to it is
 *    logged), then a staging table per family table, shaped LIKE the parent and carrying a CHECK
 *    equal to the key's partition bound (so ATTACH skips its validation scan, facts 13).
 * 2. copy: the key's rows from each DEFAULT into its staging table in block ranges (TID range
 *    scans), while writers keep writing; then replay the logged changes, a few rounds.
 * 3. finish, one short transaction under lock_timeout with retries: block writes to the DEFAULT
 *    partitions only (EXCLUSIVE: reads go on, other partitions are untouched), replay what is
 *    left, delete the key's rows from DEFAULT, ATTACH the staging tables referenced first,
 *    drop the triggers. Rows are in DEFAULT before the commit and in the new partitions after it.
 *
 * The cascade trap (facts 7): deleting the key's runs from DEFAULT would fire ON DELETE CASCADE
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
  /** Retries of a step that hit lock_timeout. Default 8. */
  retries?: number;
  /** Replay rounds before the final phase. Default 3. */
  replayRounds?: number;
  onProgress?: (progress: DrainProgress) => void;
  /** Called before a retry after a lock timeout (attempt number, pause, the error). */
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  /** For tests: called between phases, to interrupt the drain at a chosen point. */
  onPhase?: (
    phase: 'prepared' | 'copied' | 'replayed' | 'finishing' | 'locked',
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
  status: 'drained' | 'nothing-to-do';
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
  await inShortTransaction(db, { retries: 8, ...options }, async (tx) => {
    for (const statement of statements) await run(tx, statement);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function validate(family: FamilySpec, key: PartitionKey, state: DrainState): DrainTableState[] {
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  if (key.kind === 'default') throw new Error(`pgparts: drain: ${where}: DEFAULT is not a key`);
  if (key.kind !== family.partitionBy.strategy) {
    throw new Error(
      `pgparts: drain: ${where}: a ${key.kind} key on a ${family.partitionBy.strategy} family`,
    );
  }
  for (const t of state.tables) {
    if (t.coveredBy) {
      throw new Error(
        `pgparts: drain: ${where}: ${t.table} already has partition ${t.coveredBy} for this key ` +
          `under another name; rename it to ${t.target} or leave this key alone`,
      );
    }
    if (t.targetState === 'foreign') {
      throw new Error(
        `pgparts: drain: ${where}: a table named ${t.target} exists and was not made by a drain; ` +
          'rename or drop it before draining',
      );
    }
    if (t.pkColumns.length === 0 && t.targetState !== 'attached') {
      throw new Error(`pgparts: drain: ${where}: ${t.table} has no primary key; a drain needs one`);
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
  ];
}

async function copyBlocks(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  t: DrainTableState,
  options: DrainOptions,
): Promise<number> {
  if (!t.defaultPartition || t.defaultPages === 0) return 0;
  const batch = options.batchPages ?? 512;
  const cols = t.columns.map(quoteIdent).join(', ');
  let copied = 0;
  for (let page = 0; page < t.defaultPages; page += batch) {
    // TID range scan (PostgreSQL 14+): reads just these blocks, whatever the table's size.
    copied += await count(
      db,
      `WITH copied AS (
  INSERT INTO ${quoteQualified(family.schema, t.target)} (${cols})
  SELECT ${cols} FROM ${quoteQualified(family.schema, t.defaultPartition)}
  WHERE ctid >= '(${integerLiteral(page)},0)'::tid AND ctid < '(${integerLiteral(page + batch)},0)'::tid
    AND ${keyPredicateSql(family, key)}
  ON CONFLICT DO NOTHING RETURNING 1)
SELECT count(*) AS n FROM copied`,
    );
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

/** Replays one batch of logged changes of a DEFAULT partition into its staging table. */
async function replayOnce(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  t: DrainTableState,
): Promise<number> {
  if (!t.defaultPartition) return 0;
  const statements = replaySql(
    {
      schema: family.schema,
      source: t.defaultPartition,
      target: t.target,
      rowType: t.table,
      columns: t.columns,
      pkColumns: t.pkColumns,
      sourceFilter: keyPredicateSql(family, key, 'd'),
    },
    REPLAY_BATCH,
  );
  return db.transaction(async (tx) => {
    // ON COMMIT DROP does not help several batches inside the final transaction.
    await run(tx, `DROP TABLE IF EXISTS pg_temp.${quoteIdent(REPLAY_BATCH_TABLE)}`);
    await run(tx, statements[0] as string);
    const pinned = await count(tx, `SELECT count(*) AS n FROM ${quoteIdent(REPLAY_BATCH_TABLE)}`);
    if (pinned > 0) for (const statement of statements.slice(1)) await run(tx, statement);
    return pinned;
  });
}

async function replayAll(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  tables: DrainTableState[],
  options: DrainOptions,
): Promise<void> {
  for (let round = 0; round < (options.replayRounds ?? 3); round++) {
    let replayed = 0;
    for (const t of tables) replayed += await replayOnce(db, family, key, t);
    options.onProgress?.({ phase: 'replay', done: round + 1, total: options.replayRounds ?? 3 });
    if (replayed === 0) return;
  }
}

/** Adds the family's foreign keys to a referencing staging table, NOT VALID then validated. */
async function addStagingForeignKeys(
  db: AnyPgDatabase,
  family: FamilySpec,
  t: DrainTableState,
  options: DrainOptions,
): Promise<void> {
  const staging = quoteQualified(family.schema, t.target);
  for (const fk of t.familyForeignKeys) {
    const exists = await count(
      db,
      `SELECT count(*) AS n FROM pg_constraint WHERE conrelid = ${textLiteral(`${family.schema}.${t.target}`)}::regclass
         AND conname = ${textLiteral(fk.name)}`,
    );
    if (exists === 0) {
      // The definition is the server's own text for the parent's constraint (pg_get_constraintdef).
      await ddl(
        db,
        [`ALTER TABLE ${staging} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition} NOT VALID`],
        options,
      );
    }
    // VALIDATE takes SHARE UPDATE EXCLUSIVE on the staging table only: writers are not blocked.
    // Under lock_timeout all the same: a lock held elsewhere must not leave it waiting forever.
    // Its check is one anti-join of the staged rows with the referenced parent. All staged rows
    // share the partition key, and PostgreSQL planned a merge join on that column alone (the rest
    // a filter): every member compared with every run of the season, minutes at 1M rows. Hash
    // joins only, for this one statement.
    await ddl(
      db,
      [
        'SET LOCAL enable_mergejoin = off',
        'SET LOCAL enable_nestloop = off',
        `ALTER TABLE ${staging} VALIDATE CONSTRAINT ${quoteIdent(fk.name)}`,
      ],
      options,
    );
  }
}

interface FinishOutcome {
  moved: Map<string, number>;
  lockHoldMs: number;
  times: FinalPhaseTimes;
}

async function finish(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  tables: DrainTableState[],
  skipTriggers: boolean,
  options: DrainOptions,
): Promise<FinishOutcome> {
  let lockedAt = 0;
  const moved = new Map<string, number>();
  const times = { ...NO_FINAL_PHASE };
  await db.transaction(async (tx) => {
    await run(tx, `SET LOCAL ${lockTimeoutSql(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS)}`);
    const guard = await count(
      tx,
      `SELECT CASE WHEN pg_try_advisory_xact_lock(hashtext(${textLiteral(`pgparts:drain:${family.schema}.${family.name}`)})) THEN 1 ELSE 0 END AS n`,
    );
    if (guard === 0)
      throw new Error(
        `pgparts: drain: another drain of family ${family.name} is finishing; try again`,
      );
    const defaults = tables.filter((t) => t.defaultPartition);
    // Locks in the order writers take them (referenced table before referencing), all up front,
    // so a writer holding a run and waiting for its members cannot deadlock with the ATTACH.
    // Attaching a referencing partition needs SHARE ROW EXCLUSIVE on the referenced parent:
    // writes to that parent wait for the rest of this transaction; reads go on.
    const referenced = new Set(tables.flatMap((t) => t.referencedTables));
    for (const table of family.tables.filter((name) => referenced.has(name))) {
      await run(
        tx,
        `LOCK TABLE ${quoteQualified(family.schema, table)} IN SHARE ROW EXCLUSIVE MODE`,
      );
    }
    if (defaults.length > 0) {
      // EXCLUSIVE: reads of DEFAULT go on; writes to DEFAULT wait; other partitions are untouched.
      await run(
        tx,
        `LOCK TABLE ${defaults.map((t) => quoteQualified(family.schema, t.defaultPartition as string)).join(', ')} IN EXCLUSIVE MODE`,
      );
    }
    lockedAt = performance.now();
    await options.onPhase?.('locked');
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const ms = now - mark;
      mark = now;
      return ms;
    };
    for (const t of defaults) while ((await replayOnce(tx, family, key, t)) > 0);
    times.replayMs = lap();

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

    for (const t of tables) {
      const staging = quoteQualified(family.schema, t.target);
      await run(
        tx,
        `ALTER TABLE ${quoteQualified(family.schema, t.table)} ATTACH PARTITION ${staging} ${boundSpecSql(key)}`,
      );
      await run(tx, `ALTER TABLE ${staging} DROP CONSTRAINT ${quoteIdent(STAGING_CHECK)}`);
      await run(tx, `COMMENT ON TABLE ${staging} IS ${textLiteral(MANAGED_MARKER)}`);
    }
    times.attachMs = lap();
    for (const t of defaults) {
      await run(tx, dropCaptureTriggerSql(family.schema, t.defaultPartition as string));
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

export async function drainKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: DrainOptions = {},
): Promise<DrainResult> {
  const started = performance.now();
  const initial = await readDrainState(db, family, key);
  const pending = validate(family, key, initial);
  const base = { family: family.name, key: keyLabel(key) };
  if (pending.length === 0) {
    return {
      ...base,
      status: 'nothing-to-do',
      tables: [],
      rowsMoved: 0,
      rowsCopiedOnline: 0,
      elapsedMs: performance.now() - started,
      maxLockHoldMs: 0,
      finalPhase: NO_FINAL_PHASE,
      finalAttempts: 0,
      skippedTriggers: false,
    };
  }

  // 1. prepare: capture first, so no write between the copy and the final phase goes unseen.
  options.onProgress?.({ phase: 'prepare', done: 0, total: pending.length });
  const functionExists = (await count(db, captureFunctionExistsSql(family.schema))) > 0;
  for (const statement of changeCaptureSetupSql(family.schema, functionExists))
    await run(db, statement);
  for (const t of pending) {
    if (t.defaultPartition && !t.captureInstalled) {
      await ddl(db, [captureTriggerSql(family.schema, t.defaultPartition, t.pkColumns)], options);
      // A staging table left without its trigger may have missed changes: start it afresh.
      if (t.targetState === 'staging')
        await run(db, `TRUNCATE ${quoteQualified(family.schema, t.target)}`);
    }
    if (t.targetState === 'absent') await ddl(db, stagingSql(family, key, t), options);
  }
  await options.onPhase?.('prepared');

  // 2. copy and replay, online. Pages are re-read now: the trigger sees everything after this.
  const state = validate(family, key, await readDrainState(db, family, key));
  let rowsCopiedOnline = 0;
  for (const t of state) rowsCopiedOnline += await copyBlocks(db, family, key, t, options);
  // Fresh statistics, so replays and the FK validation plan with the real row counts.
  for (const t of state) await run(db, `ANALYZE ${quoteQualified(family.schema, t.target)}`);
  await options.onPhase?.('copied');
  await replayAll(db, family, key, state, options);
  const skipTriggers = initial.canSkipTriggers;
  if (skipTriggers) {
    // The validation joins the staged rows with the referenced parents: plan it on real
    // statistics (autovacuum never analyzes a partitioned parent).
    for (const table of new Set(state.flatMap((t) => t.referencedTables))) {
      await run(db, `ANALYZE ${quoteQualified(family.schema, table)}`);
    }
    for (const t of state) await addStagingForeignKeys(db, family, t, options);
  }
  await replayAll(db, family, key, state, options);
  await options.onPhase?.('replayed');

  // 3. finish: one short transaction, retried on lock timeouts.
  let lockHoldMs = 0;
  let moved = new Map<string, number>();
  let finalPhase = NO_FINAL_PHASE;
  const outcome = await retryOnLockTimeout(
    async () => {
      await options.onPhase?.('finishing');
      const result = await finish(db, family, key, state, skipTriggers, options);
      lockHoldMs = Math.max(lockHoldMs, result.lockHoldMs);
      moved = result.moved;
      finalPhase = result.times;
    },
    { retries: options.retries ?? 8, onRetry: options.onRetry },
  );
  if (outcome.error) throw outcome.error;
  options.onProgress?.({ phase: 'finish', done: 1, total: 1 });

  const tables = state.map((t) => ({
    table: t.table,
    partition: t.target,
    rowsMoved: moved.get(t.table) ?? 0,
  }));
  return {
    ...base,
    status: 'drained',
    tables,
    rowsMoved: tables.reduce((sum, t) => sum + t.rowsMoved, 0),
    rowsCopiedOnline,
    elapsedMs: performance.now() - started,
    maxLockHoldMs: lockHoldMs,
    finalPhase,
    finalAttempts: outcome.attempts,
    skippedTriggers: skipTriggers,
  };
}
