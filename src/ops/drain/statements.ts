import { MANAGED_MARKER } from '../../define/marker.js';
import { keyLabel, type PartitionKey } from '../../define/partition-key.js';
import type { FamilySpec } from '../../define/spec.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  lockedTransactionSql,
  lockTimeoutSql,
} from '../../run/lock-timeout.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { keyCheckSql, keyPredicateSql } from '../../sql/key-predicate.js';
import { integerLiteral, textLiteral } from '../../sql/literals.js';
import { forgetOwnedSql, recordOwnedSql, setOwnedRoleSql } from '../../sql/ownership.js';
import {
  ATTACH_BOUND_CHECK,
  boundSpecSql,
  ownerSql,
  tablespaceSql,
} from '../../sql/partition-ddl.js';
import { statisticsTargetsSql } from '../../sql/statistics-targets.js';
import {
  CAPTURE_TRIGGER,
  captureStillOnSql,
  captureTriggerSql,
  clearLogSql,
  clearRemovedSql,
  dropCaptureTriggerSql,
  dropRemoveCopiesSql,
  keyLog,
  keyLogSetupSql,
  removeCopiesFunction,
  removeCopiesTriggerSql,
  removedMarker,
  setTriggerSql,
} from '../online-copy/capture.js';
import {
  gainedColumn,
  REPLAY_SETTINGS,
  replaySql,
  type Template,
  templateText,
} from '../online-copy/replay.js';
import { validateForeignKeySql } from '../validate-foreign-key.js';
import {
  defaultIndexNamesSql,
  dropIdentitySql,
  indexBuildSql,
  likeParentSql,
  missingIndexes,
  type ParentIndex,
} from './indexes.js';
import {
  type DrainState,
  type DrainTableState,
  defaultOfDrained,
  drainedDefaultName,
  nextDefaultName,
  STAGING_MARKER,
} from './state.js';
import { type DrainStrategy, nextDefaultSql, swapSql } from './swap.js';

/**
 * Every statement of a drain, built from the state read before it starts (readDrainState) and
 * nothing else: drainKey runs these and only these, and `--dry-run` / `plan` print them. Two
 * kinds of statement have text that depends on what the copy finds: a copy batch (one per block
 * range of DEFAULT, as many as DEFAULT has pages when the copy starts) and a replay batch (run
 * until the change log is empty); they are printed as templates and say so.
 */

/** Statements run together: in one short transaction under lock_timeout, retried, or one by one. */
export interface DrainUnit {
  statements: string[];
  transaction: boolean;
}

/** Where a table's rows from DEFAULT go: the key's to staging; for a swap the rest to `next`. */
export interface CopyTarget {
  table: string;
  /** A condition on the DEFAULT row (alias "d" when `alias` is given). */
  filter: (alias?: string) => string;
}

/** One table of the drain with where its DEFAULT rows go. */
export interface TablePlan {
  t: DrainTableState;
  targets: CopyTarget[];
  /**
   * The replay batch of its DEFAULT's change log (online-copy/replay.ts; no parameters: run as
   * printed); null without a DEFAULT. Its staging table's gain is the column `STAGED_GAIN`.
   */
  replay: Template | null;
}

/** The parent's indexes given to a drain table after its copy (indexes.ts). */
export interface IndexBuild {
  table: string;
  /** The primary key's index, built beside `builds` where a second connection is at hand. */
  keyBuild: string | null;
  /** The other indexes, one after the other, each its own statement. */
  builds: string[];
  /** After all of them, one transaction: the constraints the indexes back (indexBuildSql). */
  constraints: DrainUnit;
  /**
   * Run only when the build finds a key twice (a row an update moved to a later block during
   * the copy was copied in both versions): removes the table's rows whose keys are in the change
   * log, which the replay then writes back as DEFAULT holds them; the build then runs again.
   * Null when the table copies nothing (no DEFAULT).
   */
  duplicates: string | null;
}

/**
 * The keys a drain validates on its copies online, before its final phase, so that ATTACH adopts
 * them instead of checking every staged row under the final lock. A swap: the keys to tables
 * outside the family (it drops the family's own and adds them back NOT VALID after its detach).
 * The delete strategy, where its final DELETE skips triggers (session_replication_role =
 * replica): every key, the family's included. Without the replica role, none: that DELETE would
 * fire the trigger removing copies (below) and take the staged rows with it, so ATTACH adds and
 * checks them.
 */
function keysOnCopies(
  strategy: DrainStrategy,
  skipTriggers: boolean,
  t: DrainTableState,
): { name: string; definition: string }[] {
  if (strategy === 'swap') return t.outsideForeignKeys;
  return skipTriggers ? [...t.familyForeignKeys, ...t.outsideForeignKeys] : [];
}

/**
 * Whether a drain puts the trigger removing copies of `t`'s DEFAULT rows (capture.ts): wherever
 * its copies carry keys before the final phase.
 */
function removesCopies(strategy: DrainStrategy, skipTriggers: boolean, t: DrainTableState) {
  return t.defaultPartition !== null && keysOnCopies(strategy, skipTriggers, t).length > 0;
}

/** The copies a drain makes of `t`'s DEFAULT rows, qualified: the staging table, a successor. */
export function copiesOf(schema: string, t: DrainTableState): string[] {
  return [t.target, ...(t.next ? [t.next] : [])].map((table) => quoteQualified(schema, table));
}

/** A statement of the final transaction, with what the executor does with its result. */
export type FinishItem =
  | { kind: 'run'; sql: string }
  /** Returns n = 1 when this drain may finish (one drain of the family at a time). */
  | { kind: 'guard'; sql: string }
  /** Deletes the key's rows of `table` from its DEFAULT, returning the count as n. */
  | { kind: 'delete'; table: string; sql: string }
  /** Replays every DEFAULT's change log until it is empty. */
  | { kind: 'replay' }
  /** Clears the records of copies the app's writes removed; returns those of `table`'s staging table as n. */
  | { kind: 'removed'; table: string; sql: string }
  /** Where the laps of the final phase are measured. */
  | { kind: 'mark'; mark: 'locked' | 'replayed' | 'deleted' | 'attached' };

export interface DrainStatements {
  strategy: DrainStrategy;
  skipTriggers: boolean;
  /** What an interrupted swap left (old DEFAULT partitions, NOT VALID keys): finished first. */
  leftover: DrainUnit[];
  prepare: DrainUnit[];
  tables: TablePlan[];
  /** The indexes built after the copy, per table copied into that lacks them. */
  indexBuilds: IndexBuild[];
  /** The settings each build runs with (buildSettingsSql). */
  buildSettings: BuildSettings;
  /** ANALYZE of the staging tables after the copy, when foreign keys are validated on them. */
  analyzeStaging: string[];
  /**
   * ANALYZE of each DEFAULT partition before the first round of each replay pass, run for those
   * whose statistics are stale by autovacuum's rule (catalog/stale-statistics.ts).
   */
  analyzeDefaults: { schema: string; table: string; sql: string }[];
  /** ANALYZE of the referenced parents before the foreign keys are validated. */
  analyzeReferenced: string[];
  /**
   * Foreign keys added NOT VALID to the tables being built, then validated online (followed by
   * a second replay pass, for what was logged meanwhile; none without them).
   */
  foreignKeys: DrainUnit[];
  /**
   * swap: the staging tables counted before the final phase (their rows moved so far), where an
   * earlier run left rows in them. A table this run fills from empty is counted as it goes: the
   * copy's rows, less the doubles an index build removes, plus each replay's gain.
   */
  stagedCounts: { table: string; sql: string }[];
  finish: FinishItem[];
  /** After the commit: a swap's old DEFAULT partitions dropped and keys validated; or cleanup. */
  after: DrainUnit[];
  /** swap: what `after` completes (the old DEFAULT partitions, the NOT VALID keys). */
  completion: Pick<DrainState, 'drainedDefaults' | 'unvalidatedForeignKeys'> | null;
}

/**
 * The setting each index build runs with when a table's builds run side by side (drain.ts): one
 * process per build. Two builds that each ask for parallel workers on two cores took longer
 * together than one after the other; single-process, side by side, a primary key and a secondary
 * index over 1M rows took 0.65-0.74 s instead of 1.1 s (the builds of a 1M-row drain: 0.68-0.82 s
 * against 0.79-1.0 s one after the other).
 */
const ONE_PROCESS = "set_config('max_parallel_maintenance_workers', '0', true)";
export const SIDE_BY_SIDE_BUILD = `SELECT ${ONE_PROCESS}`;

/**
 * What each index build runs with, in a transaction of its own ahead of the build: side by side
 * SIDE_BY_SIDE_BUILD; with `maintenanceWorkMem` also that much memory for its sort (null: one
 * lane and the server's setting, the build runs as it is). A build whose sort outgrows
 * maintenance_work_mem sorts on disk: the primary key of 1M rows of (bigint, timestamptz) needs
 * about 71 MB, and built in 0.80 s with PostgreSQL's default 64MB against 0.66 s with 128MB.
 */
export interface BuildSettings {
  sideBySide: string;
  oneLane: string | null;
}

export function buildSettingsSql(maintenanceWorkMem: string | undefined): BuildSettings {
  if (maintenanceWorkMem === undefined) return { sideBySide: SIDE_BY_SIDE_BUILD, oneLane: null };
  const memory = `set_config('maintenance_work_mem', ${textLiteral(maintenanceWorkMem)}, true)`;
  return { sideBySide: `SELECT ${ONE_PROCESS}, ${memory}`, oneLane: `SELECT ${memory}` };
}

/** Whether a table's builds have two lanes: its primary key's index beside its other indexes. */
export function twoLanes(b: IndexBuild): b is IndexBuild & { keyBuild: string } {
  return b.keyBuild !== null && b.builds.length > 0;
}

/**
 * Whether a drain with `options` asks for a second connection for `b`'s builds (it then runs
 * them side by side, where one is free): what the run decides and the dry run prints.
 */
export function buildsBesideAsked(
  b: IndexBuild,
  options: { sideBySide?: boolean | undefined },
): b is IndexBuild & { keyBuild: string } {
  return options.sideBySide !== false && twoLanes(b);
}

/**
 * First in a transaction whose commit need not wait for the WAL flush (set_config(..., true) is
 * SET LOCAL): where a later commit's flush covers it before anything depends on it.
 */
export const NO_FLUSH_WAIT = "SELECT set_config('synchronous_commit', 'off', true)";

/** Pages of DEFAULT per copy batch when the options do not say. */
export const COPY_BATCH_PAGES = 512;

/**
 * Whether a drain with `options` copies a DEFAULT of `pages` pages two batches at a time, on its
 * own connection and a second one (where one is free): when it has two batches or more, side by
 * side is not refused, and no throttle asks for a gentle copy (a throttled copy stays on one).
 */
export function copyBesideAsked(
  pages: number,
  options: {
    sideBySide?: boolean | undefined;
    batchPages?: number | undefined;
    throttleMs?: number | undefined;
  },
): boolean {
  return (
    options.sideBySide !== false &&
    !options.throttleMs &&
    pages > (options.batchPages ?? COPY_BATCH_PAGES)
  );
}

/** Rows of the change log replayed per transaction. */
export const REPLAY_BATCH = 20_000;

/** The replay's column with the rows the staging table (the first target) gained. */
export const STAGED_GAIN = gainedColumn(0, 0);

/** A placeholder in a template statement: text the executor fills in at run time. */
export function placeholder(name: string): string {
  return `«${name}»`;
}

function stagingSql(family: FamilySpec, key: PartitionKey, t: DrainTableState): string[] {
  const staging = quoteQualified(family.schema, t.target);
  return [
    ...tablespaceSql(t.parentTablespace),
    `CREATE TABLE ${staging} ${likeParentSql(quoteQualified(family.schema, t.table), t.indexes !== null)}`,
    ...ownerSql(staging, t.parentOwner),
    ...statisticsTargetsSql(staging, t.parentStatisticsTargets),
    `ALTER TABLE ${staging} ADD CONSTRAINT ${quoteIdent(ATTACH_BOUND_CHECK)} CHECK (${keyCheckSql(family, key)})`,
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

/**
 * One copy batch: the rows of DEFAULT in pages [from, to) matching the target's filter, by a
 * TID range scan (PostgreSQL 14+) that reads just these blocks, whatever the table's size.
 * `from` and `to` are page numbers, or placeholders for the template. Its count is the
 * command's (no RETURNING: the rows returned cost a fifth of the copy's time). `ON CONFLICT DO
 * NOTHING` skips rows a resumed copy finds there; with no unique index yet it is a plain insert.
 */
export function copyBatchSql(
  family: FamilySpec,
  t: DrainTableState,
  target: CopyTarget,
  from: string,
  to: string,
): string {
  const cols = t.columns.map(quoteIdent).join(', ');
  return `INSERT INTO ${quoteQualified(family.schema, target.table)} (${cols})
SELECT ${cols} FROM ${quoteQualified(family.schema, t.defaultPartition as string)}
WHERE ctid >= '(${from},0)'::tid AND ctid < '(${to},0)'::tid
  AND ${target.filter()}
ON CONFLICT DO NOTHING`;
}

/** The copy batch for pages [page, page + batch). */
export function copyBatchAt(
  family: FamilySpec,
  t: DrainTableState,
  target: CopyTarget,
  page: number,
  batch: number,
): string {
  return copyBatchSql(family, t, target, integerLiteral(page), integerLiteral(page + batch));
}

/**
 * One replay batch of a DEFAULT's change log (a keys log: the current row is read from DEFAULT
 * by each logged key) into its copy targets, each keeping the rows its filter admits: the
 * staging table the key's, a rebuilt DEFAULT the others. The staging table is counted.
 */
function drainReplaySql(schema: string, t: DrainTableState, targets: CopyTarget[]): Template {
  const source = t.defaultPartition as string;
  return replaySql({
    log: keyLog(schema),
    scope: [['source_table', textLiteral(source)]],
    limit: integerLiteral(REPLAY_BATCH),
    flows: [
      {
        logged: textLiteral(source),
        current: {
          source: quoteQualified(schema, source),
          keyType: quoteQualified(schema, t.table),
        },
        key: t.pkColumns,
        columns: t.columns,
        targets: targets.map((target, j) => ({
          table: quoteQualified(schema, target.table),
          filter: target.filter,
          counted: j === 0,
        })),
      },
    ],
  });
}

/**
 * A successor DEFAULT built for another key whose drain is no longer recorded (it finished or
 * was given up after a crash left this table): no drain will use it, DEFAULT still holds every
 * row it has, so it is dropped (and a swap builds its own). One whose drain is recorded is
 * never touched: that drain resumes with it (swapObstacles keeps this drain from swapping).
 */
function staleNext(state: DrainState, t: DrainTableState): boolean {
  return t.nextState === 'other-key' && !state.otherDrains.some((op) => op.key === t.nextKey);
}

function dropNextSql(schema: string, t: DrainTableState): string[] {
  return [
    forgetOwnedSql(schema, schema, t.next as string),
    `DROP TABLE ${quoteQualified(schema, t.next as string)}`,
  ];
}

/** The parent's indexes `table` will lack after the prepare: all of them when it is new. */
function indexesToBuild(
  indexes: ParentIndex[] | null,
  state: 'absent' | 'staging' | 'attached' | 'foreign',
  has: readonly string[],
): ParentIndex[] {
  if (!indexes) return [];
  return state === 'absent' ? indexes : missingIndexes(indexes, has);
}

/** Removes the rows of `table` whose keys DEFAULT's change log holds (see IndexBuild). */
function duplicatesSql(schema: string, t: DrainTableState, table: string): string {
  const cols = t.pkColumns.map((c) => `k.${quoteIdent(c)}`).join(', ');
  const match = t.pkColumns.map((c) => `t.${quoteIdent(c)} = k.${quoteIdent(c)}`).join(' AND ');
  const log = keyLog(schema);
  return `DELETE FROM ${quoteQualified(schema, table)} t USING (SELECT DISTINCT ${cols} FROM ${log.table} c
  CROSS JOIN LATERAL jsonb_populate_record(NULL::${quoteQualified(schema, t.table)}, c.pk) k
  WHERE c.${log.tableColumn} = ${textLiteral(t.defaultPartition as string)}) k
WHERE ${match}`;
}

/**
 * Foreign keys added to a table being built (staging or a successor DEFAULT), NOT VALID then
 * validated, so that ATTACH adopts them instead of validating them under its locks. A key the
 * table already has (an interrupted drain added it) is only validated.
 */
function foreignKeyUnits(
  family: FamilySpec,
  table: string,
  keys: { name: string; definition: string }[],
  existing: readonly string[],
): DrainUnit[] {
  const target = quoteQualified(family.schema, table);
  return keys.flatMap((fk) => [
    ...(existing.includes(fk.name)
      ? []
      : [
          {
            // The definition is the server's own text for the parent's constraint.
            statements: [
              `ALTER TABLE ${target} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition} NOT VALID`,
            ],
            transaction: true,
          },
        ]),
    { statements: validateForeignKeySql(target, fk.name), transaction: true },
  ]);
}

/** After a swap's commit (or an interrupted one's): old DEFAULTs dropped, keys validated. */
export function completeSwapUnits(
  family: FamilySpec,
  drainedDefaults: readonly string[],
  unvalidated: readonly { table: string; name: string }[],
): DrainUnit[] {
  return [
    ...drainedDefaults.map((name) => {
      const defaultPartition = defaultOfDrained(name);
      return {
        statements: [
          forgetOwnedSql(family.schema, family.schema, name),
          `DROP TABLE ${quoteQualified(family.schema, name)}`,
          // Its trigger removing copies (a key to a table outside the family) went with it.
          `DROP FUNCTION IF EXISTS ${removeCopiesFunction(family.schema, defaultPartition)}()`,
          // Its index names are free now: the DEFAULT takes them back from its successor's.
          defaultIndexNamesSql(family.schema, defaultPartition, nextDefaultName(defaultPartition)),
        ],
        transaction: true,
      };
    }),
    ...unvalidated.flatMap((fk) => {
      const table = quoteQualified(family.schema, fk.table);
      return [
        { statements: [`ANALYZE ${table}`], transaction: false },
        { statements: validateForeignKeySql(table, fk.name), transaction: true },
      ];
    }),
  ];
}

/** ATTACH of one staging table as the key's partition, and what makes it an ordinary one. */
function attachKeySql(family: FamilySpec, key: PartitionKey, t: DrainTableState): string[] {
  const staging = quoteQualified(family.schema, t.target);
  return [
    `ALTER TABLE ${quoteQualified(family.schema, t.table)} ATTACH PARTITION ${staging} ${boundSpecSql(key)}`,
    `ALTER TABLE ${staging} DROP CONSTRAINT ${quoteIdent(ATTACH_BOUND_CHECK)}`,
    `COMMENT ON TABLE ${staging} IS ${textLiteral(MANAGED_MARKER)}`,
    setOwnedRoleSql(family.schema, family.schema, t.target, 'partition'),
  ];
}

/** The final transaction's locks (see drain.ts on their order and timeouts). */
function finishLocks(
  family: FamilySpec,
  tables: DrainTableState[],
  strategy: DrainStrategy,
  lockTimeoutMs: number,
): string[] {
  const defaults = tables.filter((t) => t.defaultPartition);
  // First the tables this transaction attaches: the staging tables, and a swap's new DEFAULT.
  // No writer uses them yet, so a wait for one holds nobody behind it; an autovacuum of the rows
  // just copied into them gives way only after deadlock_timeout, longer than lock_timeout, and
  // waited for after the parents it queued every writer of the family behind this transaction
  // (a swap's writers waited 492 ms in a side-by-side run, its first attempt timing out).
  const attached = [
    ...tables.map((t) => t.target),
    ...(strategy === 'swap' ? tables.flatMap((t) => (t.next ? [t.next] : [])) : []),
  ].map((name) => quoteQualified(family.schema, name));
  const fresh =
    attached.length > 0 ? [`LOCK TABLE ${attached.join(', ')} IN ACCESS EXCLUSIVE MODE`] : [];
  if (strategy === 'swap') {
    // DETACH needs ACCESS EXCLUSIVE on each parent: reads and writes of the family wait for
    // this transaction, which does only catalog work. Taken in two rounds, each in the
    // family's order (referenced first, as writers take theirs). SHARE ROW EXCLUSIVE first:
    // it stops new writes but not the foreign key checks (ROW SHARE) of a writer already
    // inside its transaction, which can finish. Then ACCESS EXCLUSIVE, waiting on readers
    // only. Taking ACCESS EXCLUSIVE at once deadlocks: a writer holding the runs parent and
    // wanting the members parent, while its member's key check waits on the locked runs.
    // Each parent ONLY, with its DEFAULT: the swap changes nothing in the other partitions,
    // and a LOCK TABLE of a parent holds the parent while it goes on to lock every partition,
    // so an autovacuum of one (right after a drain attached a million rows, say) held it,
    // and every writer of the family behind it, until lock_timeout (495 ms, its first attempts
    // timing out, in a side-by-side run). Except a parent another table of the family
    // references: attaching the referencing table's partitions locks each of its partitions
    // (SHARE ROW EXCLUSIVE), which are then taken here, with the others, not later.
    const referenced = new Set(tables.flatMap((t) => t.referencedTables));
    const locks: string[] = [...fresh];
    for (const mode of ['SHARE ROW EXCLUSIVE', 'ACCESS EXCLUSIVE']) {
      for (const table of family.tables) {
        const only = referenced.has(table) ? '' : 'ONLY ';
        locks.push(`LOCK TABLE ${only}${quoteQualified(family.schema, table)} IN ${mode} MODE`);
        const own = tables.find((t) => t.table === table)?.defaultPartition;
        if (only && own)
          locks.push(`LOCK TABLE ${quoteQualified(family.schema, own)} IN ${mode} MODE`);
      }
    }
    // DETACH turns the DEFAULT's inherited keys to other tables (season, dungeon...) into
    // its own, which locks those tables ACCESS EXCLUSIVE. Taken here, after the parents: a
    // writer checking its run's season while holding the dungeon deadlocked with the DETACH.
    // (regclass text is already quoted as needed.)
    const outside = [...new Set(tables.flatMap((t) => t.outsideReferencedTables))].sort();
    if (outside.length > 0) locks.push(`LOCK TABLE ${outside.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    return locks;
  }
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
    ...fresh,
    ...family.tables
      .filter((name) => referenced.has(name))
      .map(
        (name) => `LOCK TABLE ${quoteQualified(family.schema, name)} IN SHARE ROW EXCLUSIVE MODE`,
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
  return [
    `SET LOCAL ${lockTimeoutSql(Math.max(1, Math.floor(lockTimeoutMs / locks.length)))}`,
    ...locks,
    `SET LOCAL ${lockTimeoutSql(lockTimeoutMs)}`,
  ];
}

export interface DrainStatementOptions {
  lockTimeoutMs?: number | undefined;
  /** maintenance_work_mem for the index builds (DrainOptions.maintenanceWorkMem). */
  maintenanceWorkMem?: string | undefined;
}

/**
 * The drain of `key`, given the state read before it starts, the tables still to drain and the
 * final phase chosen. Pure: the same state gives the same statements.
 */
export function drainStatements(
  family: FamilySpec,
  key: PartitionKey,
  state: DrainState,
  pending: DrainTableState[],
  strategy: DrainStrategy,
  options: DrainStatementOptions = {},
): DrainStatements {
  const schema = family.schema;
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const leftover =
    state.unvalidatedForeignKeys.length > 0 || state.drainedDefaults.length > 0
      ? completeSwapUnits(family, state.drainedDefaults, state.unvalidatedForeignKeys)
      : [];

  const skipTriggers = strategy === 'delete' && state.canSkipTriggers;
  // 1. prepare: capture first, so no write between the copy and the final phase goes unseen.
  const prepare: DrainUnit[] = [
    { statements: keyLogSetupSql(schema, state.captureFunctionExists), transaction: false },
  ];
  const indexBuilds: IndexBuild[] = [];
  const emptyStaging = new Set<string>();
  for (const t of pending) {
    // The trigger removing copies of DEFAULT's rows (capture.ts) and the keys on the copies
    // (keysOnCopies) go on the copies only once these have their indexes, one after the other
    // (below). An earlier run's go first, before any copy is emptied or dropped: the trigger
    // names them, would delete from a copy being refilled without its indexes (a scan per
    // write), and the keys without it would check the app's writes against rows the copy has
    // not caught up with.
    if (t.defaultPartition && t.removeCopiesInstalled)
      prepare.push({
        statements: [
          ...dropRemoveCopiesSql(schema, t.defaultPartition),
          clearRemovedSql(keyLog(schema), copiesOf(schema, t)),
        ],
        transaction: true,
      });
    const missingCapture = t.defaultPartition !== null && !t.captureAlways;
    if (missingCapture) {
      prepare.push({
        statements: captureTriggerSql(
          keyLog(schema),
          CAPTURE_TRIGGER,
          schema,
          t.defaultPartition as string,
          t.pkColumns,
        ),
        transaction: true,
      });
    }
    // A drain table an older version made with the parent's identity loses it (likeParentSql).
    // Named only where there is one to drop: a successor's name too long to derive (a swap
    // refuses it, so the drain deletes) is never quoted.
    const identities = [
      ...(t.targetIdentity.length > 0
        ? dropIdentitySql(quoteQualified(schema, t.target), t.targetIdentity)
        : []),
      ...(t.next && t.nextIdentity.length > 0
        ? dropIdentitySql(quoteQualified(schema, t.next), t.nextIdentity)
        : []),
    ];
    if (identities.length > 0) prepare.push({ statements: identities, transaction: true });
    const targetBuild = indexesToBuild(t.indexes, t.targetState, t.targetIndexes);
    const nextBuild =
      strategy === 'swap' && t.defaultPartition && t.next
        ? indexesToBuild(t.indexes, t.nextState === 'staging' ? 'staging' : 'absent', t.nextIndexes)
        : [];
    // A table built without the trigger in place may have missed changes; one that lacks an
    // index may have been left before its copy ended (its indexes come after it). Either starts
    // afresh, and gets the indexes it lacks.
    const restart = [
      ...(t.targetState === 'staging' && (missingCapture || targetBuild.length > 0)
        ? [t.target]
        : []),
      ...(t.nextState === 'staging' && t.next && (missingCapture || nextBuild.length > 0)
        ? [t.next]
        : []),
    ];
    if (t.targetState === 'absent' || restart.includes(t.target)) emptyStaging.add(t.table);
    for (const table of restart)
      prepare.push({
        statements: [`TRUNCATE ${quoteQualified(schema, table)}`],
        transaction: false,
      });
    for (const [table, build] of [
      [t.target, targetBuild],
      [t.next, nextBuild],
    ] as const) {
      if (!table || build.length === 0) continue;
      const { keyBuild, builds, constraints } = indexBuildSql(schema, table, build);
      indexBuilds.push({
        table,
        keyBuild,
        builds,
        constraints: { statements: constraints, transaction: true },
        duplicates: t.defaultPartition ? duplicatesSql(schema, t, table) : null,
      });
    }
    if (t.targetState === 'absent')
      prepare.push({ statements: stagingSql(family, key, t), transaction: true });
    if (strategy === 'swap') {
      if (t.defaultPartition && staleNext(state, t))
        prepare.push({ statements: dropNextSql(schema, t), transaction: true });
      if (t.defaultPartition && (t.nextState === 'absent' || staleNext(state, t)))
        prepare.push({ statements: nextDefaultSql(family, key, t), transaction: true });
    }
    // A staging table's rows are copies that a replay brings up to date only later: a key on
    // them checks the app's writes against rows the app already deleted or changed (a doc's tags
    // deleted, then the doc: the staged copy of a tag still points at it, and the app's DELETE
    // fails), unless the trigger removing copies is in place first. So the keys an earlier run
    // (or an earlier version) left on the copies go now, and keysOnCopies come back after the
    // trigger. The swap adds the family's back NOT VALID after its detach; without the replica
    // role, the delete strategy's ATTACH adds and checks them.
    for (const [table, keys] of [
      [t.target, t.targetForeignKeys],
      [t.next, t.nextForeignKeys],
    ] as const) {
      if (!table) continue;
      for (const fk of [...t.familyForeignKeys, ...t.outsideForeignKeys]) {
        if (!keys.includes(fk.name)) continue;
        prepare.push({
          statements: [
            `ALTER TABLE ${quoteQualified(schema, table)} DROP CONSTRAINT IF EXISTS ${quoteIdent(fk.name)}`,
          ],
          transaction: true,
        });
      }
    }
  }

  // 2. copy and replay, online.
  const tables: TablePlan[] = pending.map((t) => {
    const targets = copyTargets(family, key, t, strategy);
    return {
      t,
      targets,
      replay: t.defaultPartition ? drainReplaySql(schema, t, targets) : null,
    };
  });
  const foreignKeys: DrainUnit[] = [];
  for (const p of tables) {
    // The keys on the copies (keysOnCopies) are validated now, online, so that ATTACH adopts
    // them. First the trigger that keeps the copies free of rows the app deletes or changes
    // meanwhile (capture.ts).
    if (removesCopies(strategy, skipTriggers, p.t)) {
      foreignKeys.push({
        statements: removeCopiesTriggerSql(
          schema,
          p.t.defaultPartition as string,
          p.t.pkColumns,
          p.targets.map((target) => quoteQualified(schema, target.table)),
        ),
        transaction: true,
      });
    }
    // Every key was dropped from the copies above.
    for (const target of p.targets)
      foreignKeys.push(
        ...foreignKeyUnits(family, target.table, keysOnCopies(strategy, skipTriggers, p.t), []),
      );
  }

  // 3. finish: one short transaction, retried on lock timeouts.
  const defaults = pending.filter((t) => t.defaultPartition);
  const finish: FinishItem[] = [
    ...lockedTransactionSql(lockTimeoutMs).map((s): FinishItem => ({ kind: 'run', sql: s })),
    {
      kind: 'guard',
      sql: `SELECT CASE WHEN pg_try_advisory_xact_lock(hashtext(${textLiteral(`pgparts:drain:${schema}.${family.name}`)})) THEN 1 ELSE 0 END AS n`,
    },
    ...finishLocks(family, pending, strategy, lockTimeoutMs).map(
      (s): FinishItem => ({ kind: 'run', sql: s }),
    ),
    ...defaults.map(
      (t): FinishItem => ({
        kind: 'run',
        sql: captureStillOnSql({
          log: keyLog(schema),
          schema,
          table: t.defaultPartition as string,
          trigger: CAPTURE_TRIGGER,
          consequence: 'rows written meanwhile may not be in the copy; nothing was changed',
          hint: 'Run the drain again once that session is done: it copies afresh.',
        }),
      }),
    ),
    { kind: 'mark', mark: 'locked' },
    { kind: 'replay' },
    // The copies the trigger removed since they were counted (none is removed under the locks).
    ...pending
      .filter((t) => removesCopies(strategy, skipTriggers, t))
      .map(
        (t): FinishItem => ({
          kind: 'removed',
          table: t.table,
          sql: `WITH gone AS (${clearRemovedSql(keyLog(schema), copiesOf(schema, t))} RETURNING ${keyLog(schema).tableColumn} AS marker)
SELECT count(*) FILTER (WHERE marker = ${textLiteral(removedMarker(quoteQualified(schema, t.target)))}) AS n FROM gone`,
        }),
      ),
    { kind: 'mark', mark: 'replayed' },
  ];
  const runAll = (statements: string[]) =>
    statements.map((s): FinishItem => ({ kind: 'run', sql: s }));
  if (strategy === 'swap') {
    // Nothing is deleted: the staging tables hold exactly the key's rows of DEFAULT.
    finish.push(
      ...runAll(swapSql(family, pending, (t) => attachKeySql(family, key, t))),
      { kind: 'mark', mark: 'attached' },
      ...runAll(
        defaults.map(
          (t) =>
            `COMMENT ON TABLE ${quoteQualified(schema, t.defaultPartition as string)} IS ${textLiteral(MANAGED_MARKER)}`,
        ),
      ),
    );
  } else {
    // The capture fires in every session (ALWAYS), this one's deletes included: stopped first,
    // now that the writers are locked out and the last replay is done.
    finish.push(
      ...runAll(
        defaults.map((t) =>
          setTriggerSql(
            quoteQualified(schema, t.defaultPartition as string),
            CAPTURE_TRIGGER,
            'DISABLE',
          ),
        ),
      ),
    );
    // The trigger removing copies goes first: the replay is done, and the DELETE below must not
    // take the staged rows with it (the replica role would skip it anyway).
    finish.push(
      ...runAll(
        defaults
          .filter((t) => removesCopies(strategy, skipTriggers, t))
          .flatMap((t) => dropRemoveCopiesSql(schema, t.defaultPartition as string)),
      ),
    );
    if (skipTriggers)
      finish.push({ kind: 'run', sql: 'SET LOCAL session_replication_role = replica' });
    // Referencing tables first: without the replica role, the cascade from the referenced
    // DEFAULT then has nothing left to delete, and the staged rows have no foreign key to reach.
    for (const t of [...defaults].reverse()) {
      finish.push({
        kind: 'delete',
        table: t.table,
        sql: `WITH gone AS (DELETE FROM ${quoteQualified(schema, t.defaultPartition as string)}
  WHERE ${keyPredicateSql(family, key)} RETURNING 1) SELECT count(*) AS n FROM gone`,
      });
    }
    if (skipTriggers)
      finish.push({ kind: 'run', sql: 'SET LOCAL session_replication_role = origin' });
    finish.push(
      { kind: 'mark', mark: 'deleted' },
      ...runAll(pending.flatMap((t) => attachKeySql(family, key, t))),
      { kind: 'mark', mark: 'attached' },
      ...runAll(
        defaults.flatMap((t) =>
          dropCaptureTriggerSql(CAPTURE_TRIGGER, schema, t.defaultPartition as string),
        ),
      ),
    );
  }
  finish.push(
    ...runAll(defaults.map((t) => clearLogSql(keyLog(schema), t.defaultPartition as string))),
  );

  const completion =
    strategy === 'swap'
      ? {
          drainedDefaults: defaults.map((t) => drainedDefaultName(t.defaultPartition as string)),
          unvalidatedForeignKeys: pending.flatMap((t) =>
            t.familyForeignKeys.map((fk) => ({ table: t.table, name: fk.name })),
          ),
        }
      : null;
  const after = completion
    ? completeSwapUnits(family, completion.drainedDefaults, completion.unvalidatedForeignKeys)
    : // A successor DEFAULT left by an earlier swap attempt of this key (or a stale one of
      // another key) is no longer needed; one of another key's recorded drain stays.
      pending
        .filter((t) => t.next && (t.nextState === 'staging' || staleNext(state, t)))
        .map((t) => ({ statements: dropNextSql(schema, t), transaction: true }));

  const referenced = new Set(pending.flatMap((t) => t.referencedTables));
  return {
    strategy,
    skipTriggers,
    leftover,
    // Its transactions commit without waiting for the WAL flush: the first copy batch's commit
    // (or the final phase's) waits for it, and that flush makes every earlier commit durable with
    // it. A crash before then loses the prepare whole or in part, each transaction all or
    // nothing, and the drain's next run prepares again.
    prepare: prepare.map((unit) =>
      unit.transaction ? { ...unit, statements: [NO_FLUSH_WAIT, ...unit.statements] } : unit,
    ),
    tables,
    indexBuilds,
    buildSettings: buildSettingsSql(options.maintenanceWorkMem),
    // Statistics for the validation's join. The replays need none: they look each key up by
    // the primary key (REPLAY_SETTINGS), which the index build has given a row count.
    analyzeStaging:
      foreignKeys.length > 0
        ? tables.map((p) => `ANALYZE ${quoteQualified(schema, p.t.target)}`)
        : [],
    analyzeDefaults: defaults.map((t) => ({
      schema,
      table: t.defaultPartition as string,
      sql: `ANALYZE ${quoteQualified(schema, t.defaultPartition as string)}`,
    })),
    analyzeReferenced:
      skipTriggers || strategy === 'swap'
        ? [...referenced].map((table) => `ANALYZE ${quoteQualified(schema, table)}`)
        : [],
    foreignKeys,
    stagedCounts:
      strategy === 'swap'
        ? pending
            .filter((t) => !emptyStaging.has(t.table) || removesCopies(strategy, skipTriggers, t))
            .map((t) => ({
              table: t.table,
              // With the removal trigger, the copy is counted and the removals logged so far are
              // cleared in one snapshot: the final phase subtracts only those logged after it.
              sql: removesCopies(strategy, skipTriggers, t)
                ? `WITH counted AS (${clearRemovedSql(keyLog(schema), [quoteQualified(schema, t.target)])} RETURNING 1)
SELECT count(*) AS n FROM ${quoteQualified(schema, t.target)}`
                : `SELECT count(*) AS n FROM ${quoteQualified(schema, t.target)}`,
            }))
        : [],
    finish,
    after,
    completion,
  };
}

/** What a template stands for, as its first line (a SQL comment). */
function template(note: string, statement: string): string {
  return `-- ${note}\n${statement}`;
}

/**
 * The drain's statements in the order they run, for a dry run or a plan. Copy and replay batches
 * are templates: a leading comment says how often they run, and «...» marks text filled in then.
 */
export function listDrainStatements(
  ds: DrainStatements,
  family: FamilySpec,
  options: {
    batchPages?: number | undefined;
    replayRounds?: number | undefined;
    /** false: the builds run one after the other on the drain's connection (no note, no setting). */
    sideBySide?: boolean | undefined;
    /** A throttled copy runs on the drain's connection only. */
    throttleMs?: number | undefined;
  } = {},
): string[] {
  const batch = options.batchPages ?? COPY_BATCH_PAGES;
  const rounds = options.replayRounds ?? 3;
  const units = (list: DrainUnit[]) => list.flatMap((u) => u.statements);
  const replays = (when: string) =>
    ds.tables.flatMap((p) => {
      if (!p.replay) return [];
      const note = `replay batch of ${p.t.defaultPartition}'s change log (${REPLAY_BATCH} entries at most), ${when}`;
      return [REPLAY_SETTINGS.before, templateText(p.replay), REPLAY_SETTINGS.after].map((s) =>
        template(note, s),
      );
    });
  // Rounds of replay, until one finds nothing (at most `rounds`); a second pass after the keys.
  const replayRounds = [
    ...ds.analyzeDefaults.map((a) =>
      template(
        `before the first replay round, when ${a.table}'s statistics are stale: more rows changed since its last ANALYZE than autovacuum's threshold (autovacuum_analyze_threshold + autovacuum_analyze_scale_factor x its rows), or never analyzed`,
        a.sql,
      ),
    ),
    ...replays(`each round (${rounds} at most) until a round finds the logs empty`),
  ];
  const lines: string[] = [
    ...units(ds.leftover),
    ...units(ds.prepare),
    ...ds.tables.flatMap((p) =>
      p.t.defaultPartition
        ? p.targets.map((target) =>
            template(
              `copy batch: one per ${batch} pages of ${p.t.defaultPartition} (${p.t.defaultPages} pages now; counted again when the copy starts)${copyBesideAsked(p.t.defaultPages, options) ? "; two batches at a time, on the drain's connection and a second one where the pool has one free" : ''}`,
              copyBatchSql(
                family,
                p.t,
                target,
                placeholder('first page'),
                placeholder('first page + batch'),
              ),
            ),
          )
        : [],
    ),
    ...ds.indexBuilds.flatMap((b) => [
      ...(buildsBesideAsked(b, options)
        ? [
            template(
              `${b.table}'s primary key index and its other indexes are built side by side where the pool has a second connection free: each build in a transaction of its own, after this`,
              ds.buildSettings.sideBySide,
            ),
          ]
        : ds.buildSettings.oneLane
          ? [
              template(
                `each of ${b.table}'s index builds in a transaction of its own, after this`,
                ds.buildSettings.oneLane,
              ),
            ]
          : []),
      ...(b.keyBuild !== null ? [b.keyBuild] : []),
      ...b.builds,
      ...(b.duplicates
        ? [
            template(
              `only when building ${b.table}'s indexes finds a key twice (a row an update moved during the copy): then the builds that failed again`,
              b.duplicates,
            ),
          ]
        : []),
      ...b.constraints.statements,
    ]),
    ...ds.analyzeStaging,
    ...replayRounds,
    ...ds.analyzeReferenced,
    ...units(ds.foreignKeys),
    ...(ds.foreignKeys.length > 0 ? replayRounds : []),
    ...ds.stagedCounts.map((c) => c.sql),
  ];
  for (const item of ds.finish) {
    if (
      item.kind === 'run' ||
      item.kind === 'guard' ||
      item.kind === 'delete' ||
      item.kind === 'removed'
    )
      lines.push(item.sql);
    else if (item.kind === 'replay')
      lines.push(...replays('under the locks until the logs are empty'));
  }
  lines.push(...units(ds.after));
  return lines;
}
