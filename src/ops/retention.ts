import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { readOperations } from '../catalog/operations.js';
import { ownershipCarriedOver } from '../catalog/ownership.js';
import { RETIRED_KEYS_TABLE, type RetiredKey, readRetiredKey } from '../catalog/retired-keys.js';
import {
  checkKeyShape,
  keyLabel,
  type PartitionKey,
  partitionName,
} from '../define/partition-key.js';
import { DEFAULT_ARCHIVE_SCHEMA, type FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { checkDatabase } from '../run/check-database.js';
import type { AnyPgDatabase } from '../run/database.js';
import { sendsTogether } from '../run/driver-capabilities.js';
import { afterSentOn, query, run } from '../run/execute.js';
import { withKeyOperation } from '../run/key-lock.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  lockOptionsSchema,
  outcomeError,
  retryOnLockTimeout,
  runLockedTransaction,
} from '../run/lock-timeout.js';
import { checkOptions, functionOption } from '../run/options.js';
import { asOperation, pgErrorCode, pgErrorMessage } from '../run/pg-error.js';
import { preflightPrivileges } from '../run/privileges.js';
import { jsonValue } from '../run/rows.js';
import { openSession, pgpartsSessionSettings } from '../run/session.js';
import { identifierProblem, quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { checkKey } from './key-validation.js';
import { ensureOwnership } from './ownership.js';
import { type RetirePartitionState, retirePreflight } from './retire-preflight.js';
import {
  type FamilyForeignKey,
  type RetireFacts,
  type RetireUnit,
  retireStatements,
  STILL_ATTACHED,
} from './retire-statements.js';

/** The refusal of a unit sent behind a DETACH that had not taken effect (stillAttachedGuardSql). */
function isStillAttachedRefusal(error: unknown): boolean {
  return pgErrorCode(error) === '55000' && pgErrorMessage(error).startsWith(STILL_ATTACHED);
}

/**
 * retireKey: removes one key's partitions from every table of a family (retention, or an
 * explicit `pgparts retire`), in the order that works with foreign keys between them (docs/postgres-behaviours.md#drop-order-with-foreign-keys):
 * referencing tables first, each partition detached and then dropped or archived; never
 * `DROP ... CASCADE` (docs/postgres-behaviours.md#never-drop-cascade), so the foreign keys stay in place and still reject orphans.
 *
 * - DETACH ... CONCURRENTLY (PostgreSQL 14+) when the parent has no DEFAULT partition; with a
 *   DEFAULT partition PostgreSQL refuses it (docs/postgres-behaviours.md#detach-concurrently-and-default), so a plain DETACH under a short
 *   lock_timeout with retries. The result says which.
 * - After its detach, a referencing partition's foreign keys to the family are dropped: they
 *   would otherwise stop the referenced partition's detach (its rows still point there).
 * - archive: the detached tables move to the archive schema, readable and dumpable; the archived
 *   referencing table gets a foreign key to the archived referenced one. `reattachKey` brings
 *   them back (reattach.ts).
 * - Before the first change: the key is checked (never the current or a future interval, nor a
 *   value the spec lists, unless forced) and the preflight (retire-preflight.ts) proves the last
 *   step can succeed; only partitions pgparts owns (its ownership record) are removed.
 * - It holds the key's lock and record (run/key-lock.ts): refused while a drain of the key runs
 *   or an interrupted one is unfinished.
 * - The key is recorded in pgparts_retired_keys, so maintenance does not create it again.
 * Interrupted, it can be run again (or `apply --yes` does it): its record keeps its mode, a
 * detach left pending is finalized, finished tables skipped.
 */

/** The archive schema an option names: any valid identifier (it is quoted). */
export function checkedArchiveSchema(name: string): string {
  const problem = identifierProblem(name);
  if (problem) {
    throw new PgpartsError('invalid-input', `archive schema ${JSON.stringify(name)}: ${problem}`);
  }
  return name;
}

export type RetireMode = 'drop' | 'archive';

export interface RetireOptions {
  mode?: RetireMode;
  /** Where archive mode puts the tables. Default: the family's retention.archiveSchema. */
  archiveSchema?: string;
  lockTimeoutMs?: number;
  retries?: number;
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  onProgress?: (done: number, total: number) => void;
  /**
   * Retire even the current or a future interval, or a value the spec lists in `values`
   * (refused otherwise: rows are being written there, or the spec asks for it).
   */
  force?: boolean;
}

/** RetireOptions as checked before anything runs (run/options.ts: unknown names refused). */
const retireOptionsSchema = z
  .object({
    mode: z.enum(['drop', 'archive']).optional(),
    archiveSchema: z.string().optional(),
    ...lockOptionsSchema.shape,
    onRetry: functionOption.optional(),
    onProgress: functionOption.optional(),
    force: z.boolean().optional(),
  })
  .strict();

export interface RetiredPartition {
  table: string;
  partition: string;
  /** Where it is now: null when dropped. */
  archivedAs: string | null;
  /** The planner's estimate of its rows; null when the table was never analyzed. */
  rows: number | null;
}

export interface RetireResult {
  family: string;
  key: string;
  mode: RetireMode;
  status: 'retired' | 'nothing-to-do';
  detach: 'concurrently' | 'plain';
  /** Why not CONCURRENTLY, when plain. */
  detachNote: string | null;
  partitions: RetiredPartition[];
  /** Its statements, built from what it read before its first change (none: nothing to do). */
  statements: string[];
  elapsedMs: number;
}

interface DetachFacts {
  version: number;
  withDefault: string[];
  retiredKeysTable: boolean;
  links: { referencing: string; referenced: string }[];
}

/**
 * What the statements depend on beyond the preflight, in one read (sent in the preflight's
 * batch): the server's version, which of the family's parents have a DEFAULT partition (no
 * DETACH ... CONCURRENTLY then), whether the retired-keys record exists (its CREATE is left out
 * when it does), and which parents reference which. Each test is a count per parent (pair), not
 * an EXISTS: a planner may turn EXISTS over a list into a semi-join that scans a whole catalog,
 * where a count is looked up by index for each row of the list (pg_constraint by conrelid,
 * pg_inherits by inhparent).
 */
function detachFactsSql(family: FamilySpec): SQL {
  const parents = sql.join(
    family.tables.map(
      (table, i) => sql`(${i}::int, to_regclass(${quoteQualified(family.schema, table)}))`,
    ),
    sql`, `,
  );
  return sql`SELECT current_setting('server_version_num') AS v,
               (SELECT json_agg(json_build_array(a.i, b.i) ORDER BY a.i, b.i)
                  FROM (VALUES ${parents}) a(i, parent), (VALUES ${parents}) b(i, parent)
                 WHERE a.i <> b.i AND (
                   SELECT count(*) FROM pg_constraint k WHERE k.contype = 'f' AND k.conparentid = 0
                     AND k.conrelid = a.parent AND k.confrelid = b.parent) > 0) AS links,
               to_regclass(${quoteQualified(family.schema, RETIRED_KEYS_TABLE)}) IS NOT NULL AS retired,
               ARRAY(SELECT p.i FROM (VALUES ${parents}) p(i, parent)
                     WHERE (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                            WHERE i.inhparent = p.parent AND c.relispartition
                              AND pg_get_expr(c.relpartbound, 0) = 'DEFAULT') > 0
                     ORDER BY p.i) AS defaults`;
}

/** detachFactsSql's row (as the batch gives it: json values) read. */
function detachFactsFrom(
  family: FamilySpec,
  row: Record<string, unknown> | undefined,
): DetachFacts {
  const defaults = new Set((jsonValue<number[] | null>(row?.defaults) ?? []).map(Number));
  const links = jsonValue<[number, number][] | null>(row?.links) ?? [];
  return {
    version: Number(row?.v),
    withDefault: family.tables.filter((_, i) => defaults.has(i)),
    retiredKeysTable: row?.retired === true,
    links: links.map(([a, b]) => ({
      referencing: family.tables[a] as string,
      referenced: family.tables[b] as string,
    })),
  };
}

/**
 * Foreign keys of `table` that point at any table of the family: on a parent, the family's own
 * keys; on a detached partition, what is left of them (PostgreSQL 14 drops them on detach,
 * later versions keep them as standalone constraints).
 */
async function familyForeignKeys(
  db: AnyPgDatabase,
  family: FamilySpec,
  table: string,
): Promise<FamilyForeignKey[]> {
  const rows = await query<{
    name: string;
    cols: string[];
    refcols: string[];
    referenced: string;
    del: string;
    upd: string;
    match: string;
    deferrable: boolean;
    deferred: boolean;
    delsetcols: string[] | null;
  }>(
    db,
    // A SET NULL / SET DEFAULT of some columns only (PostgreSQL 15+) is read through to_jsonb,
    // which has no such field on 14, rather than naming a column 14 does not have.
    sql`SELECT c.conname AS name, c.confdeltype::text AS del, c.confupdtype::text AS upd,
               c.confmatchtype::text AS match, c.condeferrable AS deferrable,
               c.condeferred AS deferred,
               ARRAY(SELECT a.attname::text
                     FROM jsonb_array_elements_text(CASE
                            WHEN jsonb_typeof(to_jsonb(c) -> 'confdelsetcols') = 'array'
                            THEN to_jsonb(c) -> 'confdelsetcols' ELSE '[]' END)
                          WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n::int2
                     ORDER BY k.o) AS delsetcols,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS refcols,
               r.relname AS referenced
        FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
        JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE c.conrelid = to_regclass(${quoteQualified(family.schema, table)}) AND c.contype = 'f'
          AND c.conparentid = 0 AND n.nspname = ${family.schema}`,
  );
  return rows
    .filter((r) => family.tables.includes(r.referenced))
    .map((r) => ({
      name: r.name,
      columns: r.cols,
      referencedColumns: r.refcols,
      referenced: r.referenced,
      actions:
        (r.match === 'f' ? ' MATCH FULL' : '') +
        foreignKeyAction('DELETE', r.del, r.delsetcols ?? []) +
        foreignKeyAction('UPDATE', r.upd, []) +
        (r.deferrable ? ' DEFERRABLE' : '') +
        (r.deferred ? ' INITIALLY DEFERRED' : ''),
    }));
}

/**
 * ` ON DELETE SET NULL (col)` from pg_constraint's action code and the columns it sets; empty for
 * NO ACTION (the default).
 */
function foreignKeyAction(event: 'DELETE' | 'UPDATE', code: string, columns: string[]): string {
  const action = { r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' }[code];
  if (!action) return '';
  const some = columns.length > 0 ? ` (${columns.map(quoteIdent).join(', ')})` : '';
  return ` ON ${event} ${action}${some}`;
}

/** Foreign keys of a partition into the family's parents (inherited, or standing alone). */
async function partitionForeignKeys(
  db: AnyPgDatabase,
  family: FamilySpec,
  partition: string,
): Promise<string[]> {
  const parents = sql.join(
    family.tables.map((name) => sql`to_regclass(${quoteQualified(family.schema, name)})`),
    sql`, `,
  );
  const rows = await query<{ name: string }>(
    db,
    sql`SELECT conname AS name FROM pg_constraint
        WHERE conrelid = to_regclass(${quoteQualified(family.schema, partition)}) AND contype = 'f'
          AND confrelid IN (${parents}) ORDER BY conname`,
  );
  return rows.map((r) => r.name);
}

export interface RetirePreview {
  mode: RetireMode;
  archiveSchema: string;
  facts: RetireFacts;
  units: RetireUnit[];
}

/**
 * Reads what a retire of `key` needs (the preflight proves it can finish; it refuses otherwise)
 * and builds its statements: what retireKey runs, and what a dry run prints.
 */
export async function previewRetire(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: {
    mode: RetireMode;
    archiveSchema: string;
    resuming: boolean;
    /** The ownership record's table is known to exist: see RetirePreflightOptions. */
    ownedTableExists?: boolean;
    /** The run carries the family's ownership over first: see RetirePreflightOptions. */
    carriesOverFirst?: boolean;
    /**
     * The retired keys' table is made before this retire runs (ensureOwnership, which makes it,
     * runs first): its CREATE is not one of the retire's statements even when it does not exist
     * yet (a dry run then prints what the run sends).
     */
    retiredKeysTableMadeFirst?: boolean;
  },
): Promise<RetirePreview> {
  // Everything that could stop it half-way is checked before the first change; the facts the
  // statements depend on are read in the same batch.
  return retirePreflight(db, family, key, options, [detachFactsSql(family)], (tx, read) =>
    buildPreview(tx, family, key, read.states, read.also[0]?.[0], {
      ...options,
      retiredKeysTableMadeFirst: options.retiredKeysTableMadeFirst === true,
    }),
  );
}

/** The preview from the preflight's reads (archive: its own foreign keys, read now). */
async function buildPreview(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  present: RetirePartitionState[],
  factsRow: Record<string, unknown> | undefined,
  options: { mode: RetireMode; archiveSchema: string; retiredKeysTableMadeFirst: boolean },
): Promise<RetirePreview> {
  const { mode, archiveSchema } = options;
  const { version, withDefault, links, ...read } = detachFactsFrom(family, factsRow);
  const retiredKeysTable = read.retiredKeysTable || options.retiredKeysTableMadeFirst;
  const concurrently = version >= 140000 && withDefault.length === 0;
  const detachNote = concurrently
    ? null
    : version < 140000
      ? 'PostgreSQL before 14 has no DETACH ... CONCURRENTLY'
      : `${withDefault.join(', ')} ${withDefault.length === 1 ? 'has' : 'have'} a DEFAULT partition, and PostgreSQL refuses DETACH ... CONCURRENTLY while one exists: plain DETACH under lock_timeout`;
  const facts: RetireFacts = {
    present,
    concurrently,
    detachNote,
    partitionForeignKeys: {},
    parentForeignKeys: {},
    archived: [],
    retiredKeysTable,
    familyLinks: links,
  };
  if (mode === 'archive') {
    for (const state of present) {
      facts.partitionForeignKeys[state.name] = await partitionForeignKeys(db, family, state.name);
      facts.parentForeignKeys[state.table] = await familyForeignKeys(db, family, state.table);
    }
    for (const table of family.tables) {
      const name = partitionName(family, table, key);
      const [found] = await query<{ t: string | null }>(
        db,
        sql`SELECT to_regclass(${quoteQualified(archiveSchema, name)})::text AS t`,
      );
      if (found?.t) facts.archived.push(name);
    }
  }
  return {
    mode,
    archiveSchema,
    facts,
    units: retireStatements(family, key, facts, { mode, archiveSchema }),
  };
}

/** The mode a retire runs in: an interrupted one's recorded mode, else the option or spec. */
function retireMode(
  family: FamilySpec,
  recorded: string | null | undefined,
  options: RetireOptions,
): RetireMode {
  return recorded === 'drop' || recorded === 'archive'
    ? recorded
    : (options.mode ?? family.retention?.mode ?? 'drop');
}

/**
 * What retireKey would run, without running it (`pgparts retire --dry-run`): the key is checked
 * and the preflight run as for a retire, nothing is written.
 */
export async function retireDryRun(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions = {},
): Promise<RetirePreview> {
  checkOptions('retire', retireOptionsSchema, options);
  checkDatabase('retire --dry-run', db);
  checkKeyShape('retire', key);
  const archiveSchema = retireArchiveSchema(family, key, options);
  const session = await openSession(db, { settings: pgpartsSessionSettings() });
  try {
    const s = session.db;
    const [unfinished] = await readOperations(s, family, keyLabel(key));
    const resuming = unfinished?.operation === 'retire';
    await checkKey(s, family, key, 'retire', { force: options.force === true, resuming });
    const mode = retireMode(family, resuming ? unfinished?.detail : undefined, options);
    // retireKey makes pgparts's bookkeeping tables and carries the family's ownership over
    // (ensureOwnership) before its retire.
    return await previewRetire(s, family, key, {
      mode,
      archiveSchema,
      resuming,
      retiredKeysTableMadeFirst: true,
      carriesOverFirst: !(await ownershipCarriedOver(s, family.schema, family.name)),
    });
  } finally {
    await session.release();
  }
}

/** The statements of a preview in the order they run. */
export function retirePreviewSql(preview: RetirePreview): string[] {
  // A key with no partitions left: the retire returns 'nothing-to-do' and records nothing.
  if (preview.facts.present.length === 0) return [];
  return preview.units.flatMap((u) => u.statements);
}

/** The archive schema a retire of `key` uses; refuses DEFAULT, which is not a key. */
function retireArchiveSchema(
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions,
): string {
  if (key.kind === 'default') {
    throw new PgpartsError('invalid-input', 'retire: the DEFAULT partition is not a key', {
      step: 'retire',
    });
  }
  return checkedArchiveSchema(
    options.archiveSchema ?? family.retention?.archiveSchema ?? DEFAULT_ARCHIVE_SCHEMA,
  );
}

export async function retireKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions = {},
): Promise<RetireResult> {
  return asOperation('retire', () => retireKeyChecked(db, family, key, options));
}

async function retireKeyChecked(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions = {},
): Promise<RetireResult> {
  checkOptions('retire', retireOptionsSchema, options);
  checkDatabase('retire', db, { notInTransaction: 'it detaches partitions CONCURRENTLY' });
  checkKeyShape('retire', key);
  const started = performance.now();
  const archiveSchema = retireArchiveSchema(family, key, options);

  await preflightPrivileges(db, 'retire', [family], {
    ...((options.mode ?? family.retention?.mode) === 'archive' ? { archiveSchema } : {}),
  });
  // lock_timeout for the whole session: DETACH ... CONCURRENTLY cannot run in a transaction.
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const session = await openSession(db, { settings: pgpartsSessionSettings(lockTimeoutMs) });
  try {
    return await retireOnSession(session.db, family, key, options, archiveSchema, started, true);
  } finally {
    await session.release();
  }
}

/**
 * retireKey as a step of `apply`, on the run's pinned connection (`run`: its session settings
 * and lock_timeout are the run's). What the run already did for every step is not done again:
 * its privileges preflight covers a retire that drops (an archive still checks the archive
 * schema here), and it carried the family's ownership records over before its first step.
 * Everything else (the key check, the key's lock and record, the retire preflight, ownership
 * by oid) runs as in retireKey.
 */
export async function retireKeyInRun(
  run: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions & { lockTimeoutMs: number },
): Promise<RetireResult> {
  const started = performance.now();
  const archiveSchema = retireArchiveSchema(family, key, options);
  if ((options.mode ?? family.retention?.mode) === 'archive')
    await preflightPrivileges(run, 'retire', [family], { archiveSchema });
  return retireOnSession(run, family, key, options, archiveSchema, started, false);
}

/**
 * The retire itself, on one connection whose session lock_timeout is set, after the privileges
 * preflight; `carryOverOwnership`: the family's ownership records are carried over first
 * (apply did it already for its run).
 */
async function retireOnSession(
  s: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions,
  archiveSchema: string,
  started: number,
  carryOverOwnership: boolean,
): Promise<RetireResult> {
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const check = (s: AnyPgDatabase, resuming: boolean) =>
    checkKey(s, family, key, 'retire', {
      force: options.force === true,
      resuming,
      // In a run (no carry-over here), the step was planned from the partitions apply read.
      planned: !carryOverOwnership,
    });
  const previewing = (s: AnyPgDatabase, mode: RetireMode, resuming: boolean) =>
    previewRetire(s, family, key, { mode, archiveSchema, resuming, ownedTableExists: true });
  /**
   * The key's check and the preflight: reads, sent together. In a run (no carry-over) they are
   * read ahead, right behind the key's lock, for a retire that starts fresh.
   */
  const preflight = (s: AnyPgDatabase, mode: RetireMode, resuming: boolean) =>
    afterSentOn(s, check(s, resuming), () => previewing(s, mode, resuming)).then(
      ([, preview]) => preview,
    );
  // Its record's writes need not wait for the WAL flush: each is followed by the DETACH, DROP
  // or record of retired keys, whose commit flushes them (withKeyOperation).
  return await withKeyOperation(
    s,
    family,
    keyLabel(key),
    'retire',
    async (op) => {
      const resuming = op.resuming !== null;
      // An interrupted retire is finished as it began: the same mode.
      const mode: RetireMode = retireMode(family, op.resuming?.detail, options);
      // Every statement is built here, after the preflight, before the first change. The
      // ownership record's table exists by then (apply, or ensureOwnership here, made sure of
      // it; the preflight does not take that on trust). The preflight writes nothing: its
      // BEGIN, reads and COMMIT go out together.
      let preview: RetirePreview;
      if (carryOverOwnership) {
        await check(s, resuming);
        await ensureOwnership(s, family);
        preview = await previewing(s, mode, resuming);
      } else if (op.readAhead && !resuming) preview = await op.readAhead;
      else preview = await preflight(s, mode, resuming);
      const { present, concurrently, detachNote } = preview.facts;
      const base = {
        family: family.name,
        key: keyLabel(key),
        mode,
        detach: concurrently ? ('concurrently' as const) : ('plain' as const),
        detachNote,
      };
      if (present.length === 0 && !resuming) {
        return {
          ...base,
          status: 'nothing-to-do' as const,
          partitions: [],
          statements: [],
          elapsedMs: performance.now() - started,
        };
      }

      let recorded = preview.units.find((u) => u.phase)?.phase ?? 'detach';
      // The operation's record, with the first phase, before or with the first change: in the
      // first unit's transaction when it runs in one (no round trip of its own, committed with
      // that change), else on its own first.
      const [first] = preview.units;
      const begin =
        first?.how === 'together'
          ? op.writesWith({ begin: { phase: recorded, detail: mode } })
          : undefined;
      if (!begin) await op.begin(recorded, mode);
      const retry = async (statement: string) => {
        const outcome = await retryOnLockTimeout(() => run(s, statement), {
          retries: options.retries,
          onRetry: options.onRetry,
        });
        if (outcome.error === undefined) return;
        throw outcomeError(outcome, `retire ${where}`, lockTimeoutMs);
      };
      /**
       * Statements that must commit together (a table and its ownership row): sent with their
       * BEGIN and COMMIT in one round trip (runLockedTransaction), retried whole when they could not get their locks.
       * Their commit does not wait for the WAL flush, so it releases its locks sooner: a crash
       * can only lose such a transaction whole, with everything written after it, never a part,
       * and what it loses (a drop, a move to the archive, the key's record) the next run does
       * again, as for a retire interrupted before it (the operation's record, or the catalog,
       * says so).
       */
      const together = (statements: string[]) =>
        runLockedTransaction(
          s,
          {
            retries: options.retries ?? 8,
            lockTimeoutMs,
            what: `retire ${where}`,
            ...(options.onRetry ? { onRetry: options.onRetry } : {}),
          },
          [`SELECT set_config('synchronous_commit', 'off', true)`, ...statements],
        );
      /** A unit's transaction with the operation record's writes (and its end after the last). */
      const withRecord = (i: number, unit: RetireUnit) => {
        // The operation record's writes join the unit's transaction (no round trip of their
        // own, committed with its change): the phase it reaches, and after the last unit the
        // record's deletion, so the retire is recorded finished exactly when it is.
        const phase =
          (i === 0 ? begin : undefined) ?? op.writesWith(unit.phase ? { phase: unit.phase } : {});
        const end = i === preview.units.length - 1 ? op.writesWith({ end: true }) : undefined;
        return {
          statements: [...phase.statements, ...unit.statements, ...(end?.statements ?? [])],
          committed: () => {
            phase.committed();
            end?.committed();
          },
        };
      };
      /** The unit sent behind the one before it, and done with it. */
      let sentBehind = -1;
      for (const [i, unit] of preview.units.entries()) {
        if (i === sentBehind) {
          // Ran with the unit before it: only its phase and progress are left to note, below.
        } else if (unit.how === 'together') {
          const first = withRecord(i, unit);
          const next = preview.units[i + 1];
          if (next?.how === 'together' && next.sendsBehind && sendsTogether(s)) {
            // The next unit (a DROP behind its DETACH) goes out now, without waiting for this
            // one's answer. Its record writes follow this unit's, as if it committed: when it
            // fails, so does the retire, and they are never sent.
            const sending = together(first.statements);
            first.committed();
            const second = withRecord(i + 1, next);
            const behind = together(second.statements).then(
              () => null,
              (error: unknown) => error,
            );
            try {
              await sending;
            } catch (error) {
              await behind;
              throw error;
            }
            const refused = await behind;
            // Refused by its guard: it ran before this unit took effect (this one was tried
            // again after a lock timeout). Sent again now; anything else is its failure.
            if (refused !== null && isStillAttachedRefusal(refused))
              await together(second.statements);
            else if (refused !== null) throw refused;
            second.committed();
            sentBehind = i + 1;
          } else {
            await together(first.statements);
            first.committed();
          }
        } else {
          const runUnit = async () => {
            if (unit.how === 'retry')
              for (const statement of unit.statements) await retry(statement);
            else for (const statement of unit.statements) await run(s, statement);
          };
          // The phase goes out right ahead of the unit's first statement: should the record's
          // write fail, the record lags behind the catalog, which is what a resume reads.
          if (unit.phase && unit.phase !== recorded)
            await afterSentOn(s, op.phase(unit.phase), runUnit);
          else await runUnit();
        }
        if (unit.phase) recorded = unit.phase;
        if (unit.done !== undefined) options.onProgress?.(unit.done, present.length);
      }
      const done: RetiredPartition[] = present.map((state) => ({
        table: state.table,
        partition: state.name,
        archivedAs: mode === 'archive' ? `${archiveSchema}.${state.name}` : null,
        rows: state.rows,
      }));
      return {
        ...base,
        status: 'retired' as const,
        partitions: done,
        statements: preview.units.flatMap((u) => u.statements),
        elapsedMs: performance.now() - started,
      };
    },
    {
      recordWithoutFlushWait: true,
      // Read ahead as a fresh retire reads: not resumed, so in the mode the spec or options say.
      ...(carryOverOwnership
        ? {}
        : {
            readAhead: (s: AnyPgDatabase) =>
              preflight(s, retireMode(family, undefined, options), false),
          }),
    },
  );
}

/**
 * An archived key's rows are still in its archived tables: forgotten, the next apply would create
 * empty partitions under the same names, and reattach could bring them back no more. Refused
 * while any archived table of the key exists.
 */
async function refuseWhileArchived(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  retired: RetiredKey,
): Promise<void> {
  if (retired.mode !== 'archive' || !retired.archiveSchema) return;
  const archiveSchema = retired.archiveSchema;
  const archived: string[] = [];
  let rows = 0;
  for (const table of family.tables) {
    const name = partitionName(family, table, key);
    const [found] = await query<{ t: string | null }>(
      db,
      sql`SELECT to_regclass(${quoteQualified(archiveSchema, name)})::text AS t`,
    );
    if (!found?.t) continue;
    archived.push(`${archiveSchema}.${name}`);
    const [held] = await query<{ n: number }>(
      db,
      sql`SELECT count(*)::int AS n FROM ${sql.raw(quoteQualified(archiveSchema, name))}`,
    );
    rows += held?.n ?? 0;
  }
  if (archived.length === 0) return;
  const where =
    rows > 0
      ? `its rows are archived in ${archived.join(', ')}`
      : `its archived tables ${archived.join(', ')} still exist (empty)`;
  throw new PgpartsError(
    'refused',
    `pgparts: unretire: family ${family.name}, key ${keyLabel(key)}: ${where}; reattach brings ` +
      'them back (pgparts reattach <table> <key>), or drop those tables first to forget the key; ' +
      'nothing was changed',
    { step: 'unretire' },
  );
}

/** Deletes the key's retired record, unless its rows are still archived; true when there was one. */
export async function forgetRetiredKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
): Promise<boolean> {
  const retired = await readRetiredKey(db, family, keyLabel(key));
  if (!retired) return false;
  await refuseWhileArchived(db, family, key, retired);
  const gone = await query<{ key: string }>(
    db,
    sql`DELETE FROM ${sql.raw(quoteQualified(family.schema, RETIRED_KEYS_TABLE))}
        WHERE family = ${family.name} AND key = ${keyLabel(key)} RETURNING key`,
  );
  return gone.length > 0;
}

/**
 * Brings a retired key back into the plan: the record that kept maintenance from creating it
 * again is deleted, so the next `apply` creates its partitions (empty; an archived key's rows
 * come back with `reattachKey` instead). Returns false when the key was not retired.
 */
export async function unretireKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
): Promise<boolean> {
  return asOperation('unretire', () => unretireKeyChecked(db, family, key));
}

async function unretireKeyChecked(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
): Promise<boolean> {
  checkKeyShape('unretire', key);
  checkDatabase('unretire', db);
  await preflightPrivileges(db, 'unretire', [family]);
  const session = await openSession(db, { settings: pgpartsSessionSettings() });
  try {
    return await withKeyOperation(
      session.db,
      family,
      keyLabel(key),
      'reattach',
      async () => {
        await checkKey(session.db, family, key, 'unretire');
        return forgetRetiredKey(session.db, family, key);
      },
      { label: 'unretire' },
    );
  } finally {
    await session.release();
  }
}
