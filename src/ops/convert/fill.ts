import { sql } from 'drizzle-orm';
import type { z } from 'zod';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  lockTimeoutSql,
  outcomeError,
  retryOnLockTimeout,
} from '../../run/lock-timeout.js';
import { pgErrorCode } from '../../run/pg-error.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { templateText } from '../online-copy/replay.js';
import { estimatedRows, type ProgressListener } from './backfill.js';
import { batchEnd, inRange, maxKey } from './keyset.js';
import { cols, readLayouts, type TableLayout } from './layout.js';
import { type Sides, sides } from './names.js';
import {
  conversionRemovalSql,
  conversionReplaySql,
  conversionTriggerSql,
  pendingChanges,
  REPLAY_PARAMETERS,
  replayConversionBatch,
} from './online-copy.js';
import { conversionStep, recordPhase } from './operation.js';
import { executePlan, formatPlan, type PlannedStatement } from './planned.js';
import { finishAfterSwitch, pendingAfterSwitch } from './post-switch.js';
import type { ConvertStepResult } from './prep.js';
import { query, sleep } from './run-sql.js';
import { changesTable, lockFamily, reached, readState, setProgress, setStep } from './state.js';
import {
  type BatchOptions,
  batchOptionsSchema,
  type ConversionTarget,
  parseOptions,
} from './target.js';
import { type Derivation, twinForeignKeySql } from './twin-ddl.js';

interface FillProgress {
  /** the greatest legacy key when the fill started: rows beyond it arrived later and are logged */
  upTo: string | null;
  after: string | null;
  copied: number;
  done: boolean;
}

export interface FillResult extends ConvertStepResult {
  /** rows this run copied in batches (a resumed fill counts only its own) */
  rowsCopied: number;
  /** logged changes replayed after the copy */
  changesReplayed: number;
  elapsedMs: number;
}

/**
 * The batch copy (the range condition is appended). Batches walk the legacy primary key: the
 * rows then reach the twin's primary key (which carries the same columns) in order, and index
 * insertion in order is what makes the copy fast. Measured on 300k members (uuid keys): 5.2-5.8 s
 * in key order, 6.8-8.2 s in physical order (TID range scans), although those read sequentially.
 */
function copySql(layout: TableLayout, s: Sides): string {
  return (
    `INSERT INTO ${quoteQualified(s.partitioned, layout.name)} (${cols(layout.columns)}) ` +
    `SELECT ${cols(layout.columns, 's')} FROM ${quoteQualified(s.legacy, layout.name)} s WHERE TRUE`
  );
}

/**
 * Adds the foreign keys between twins, at the swap once the replay has caught up (before its
 * lock). Until then the replay does not pay their checks. A row copied before its parent
 * reached the twins (the parent arrived after the capture began, so it waits in the log) would
 * fail the check: catch up, then try again.
 */
export async function addTwinForeignKeys(
  db: AnyPgDatabase,
  target: ConversionTarget,
  layouts: readonly TableLayout[],
  s: Sides,
  batchSize: number,
): Promise<number> {
  let replayed = 0;
  for (const layout of layouts) {
    for (const fk of twinForeignKeySql(target.family, layout.drizzle, s.partitioned)) {
      const exists = await query<{ ok: boolean }>(
        db,
        sql`SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = ${fk.name}
              AND conrelid = ${quoteQualified(s.partitioned, layout.name)}::regclass) AS ok`,
      );
      if (exists[0]?.ok) continue;
      for (let attempt = 1; ; attempt++) {
        try {
          await db.transaction(async (tx) => {
            const t = tx as unknown as AnyPgDatabase;
            await lockFamily(t, target.family);
            await replayConversionBatch(t, target.family, layouts, 'forward', s, batchSize);
            await t.execute(sql.raw(fk.sql));
          });
          break;
        } catch (error) {
          if (pgErrorCode(error) !== '23503' || attempt >= 5) throw error;
          replayed += await catchUp(db, target, layouts, 'forward', s, batchSize);
        }
      }
    }
  }
  return replayed;
}

/**
 * Catches up in rounds (each to the end of the log as it was when the round began) until a
 * round finds almost nothing left or no less than the round before (writers and replay are in
 * step: more rounds would not shrink what the swap replays under its lock, which grows with it).
 */
export async function catchUpClosely(
  db: AnyPgDatabase,
  target: ConversionTarget,
  layouts: readonly TableLayout[],
  direction: 'forward' | 'reverse',
  s: Sides,
  batchSize: number,
): Promise<number> {
  let total = 0;
  let previous = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 20; round++) {
    const n = await catchUp(db, target, layouts, direction, s, batchSize);
    total += n;
    if (n <= 50 || n >= previous) break;
    previous = n;
  }
  return total;
}

/**
 * A copy or replay batch (its own transaction, which `batch` opens: batchTransaction),
 * tried again when:
 * - a key to a table outside the family refused it (23503): the app deleted a row and then the
 *   row it references while the batch ran, and the batch wrote the first from its snapshot (a
 *   copy batch), or wrote back an older image of it after the removal trigger took the copy away
 *   (a replay batch, the app's own entry not yet committed, so not taken); the key found the
 *   referenced row gone. The next try reads the legacy rows, or takes the app's entry, as they
 *   are now (`beforeRetry` makes a replay reach it). A real orphan fails every try, with the
 *   server's error.
 * - it waited lock_timeout, or was a deadlock's victim: the app deleting a referenced row (a
 *   customer) waits for the batch's copies that reference it, while the batch's key check waits
 *   for that row. Under lock_timeout (shorter than deadlock_timeout) the batch gives way before
 *   the server picks the app's transaction to abort, and is tried again after a jittered pause.
 */
async function retryingConflicts<T>(
  batch: () => Promise<T>,
  what: string,
  beforeRetry?: () => Promise<void>,
): Promise<T> {
  let orphans = 0;
  const outcome = await retryOnLockTimeout(async () => {
    for (;;) {
      try {
        return await batch();
      } catch (error) {
        if (pgErrorCode(error) !== '23503' || ++orphans >= 5) throw error;
        await beforeRetry?.();
      }
    }
  });
  if (outcome.error === undefined) return outcome.value as T;
  throw outcomeError(outcome, what, DEFAULT_LOCK_TIMEOUT_MS);
}

/**
 * A copy or replay batch's transaction: its lock waits end at the default lock_timeout
 * (retryingConflicts tries it again), and it holds the family's conversion lock.
 */
function batchTransaction<T>(
  db: AnyPgDatabase,
  family: FamilySpec,
  body: (tx: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    const t = tx as unknown as AnyPgDatabase;
    await t.execute(sql.raw(`SET LOCAL ${lockTimeoutSql(DEFAULT_LOCK_TIMEOUT_MS)}`));
    await lockFamily(t, family);
    return body(t);
  });
}

/**
 * Replays the log in batches, each its own transaction, up to the last change logged when it
 * began. Writers keep logging meanwhile: a replay that waited for an empty log would never end
 * under writers faster than it, and one bounded by where the log stood ends with what arrived
 * during it, which the next catch-up (or the swap, under its lock) takes. Progress reports the
 * changes replayed, how many are still in the log (behind) and the replay's rate.
 */
export async function catchUp(
  db: AnyPgDatabase,
  target: ConversionTarget,
  layouts: readonly TableLayout[],
  direction: 'forward' | 'reverse',
  s: Sides,
  batchSize: number,
  onProgress?: ProgressListener,
): Promise<number> {
  let mark = await logEnd(db, target, direction);
  if (mark === null) return 0;
  const started = performance.now();
  let total = 0;
  let after: string | null = null;
  /** null: every entry up to the mark. */
  let limit: number | null = batchSize;
  const replayBatch = () =>
    batchTransaction(db, target.family, (t) =>
      replayConversionBatch(t, target.family, layouts, direction, s, limit, {
        after,
        upTo: mark,
      }),
    );
  // The app's entry that removes what a refused batch wrote back came after the mark (it was not
  // committed when the mark was read), and maybe after many more: the retry takes every entry
  // logged by then, in one batch, and ends the catch-up.
  const reachTheApp = async () => {
    mark = (await logEnd(db, target, direction)) ?? mark;
    limit = null;
  };
  for (;;) {
    const batch = await retryingConflicts(
      replayBatch,
      `convert ${target.family.name}: replay`,
      reachTheApp,
    );
    const n = batch.taken;
    after = batch.lastId;
    total += n;
    if (onProgress) {
      const behind = await pendingChanges(db, target.family, direction);
      const seconds = (performance.now() - started) / 1000;
      await onProgress({
        step: 'replay',
        table: '(change log)',
        done: total,
        total: total + behind,
        behind,
        ratePerSecond: seconds > 0 ? total / seconds : 0,
      });
    }
    if (limit === null || n < batchSize) return total;
  }
}

/** The id of the last change logged so far in one direction (null: the log is empty). */
async function logEnd(
  db: AnyPgDatabase,
  target: ConversionTarget,
  direction: 'forward' | 'reverse',
): Promise<string | null> {
  const rows = await query<{ id: string | null }>(
    db,
    sql`SELECT max(id)::text AS id FROM ${sql.raw(changesTable)}
        WHERE family = ${target.family.name} AND direction = ${direction}`,
  );
  return rows[0]?.id ?? null;
}

/**
 * Step 3, fill: installs the change-capture triggers on the legacy tables, copies every row that
 * existed then in primary-key batches (each batch and its progress commit together, so a killed
 * fill resumes with no duplicate and no gap), then replays the changes logged meanwhile. Run it
 * again any time before the swap to catch up.
 */
export async function convertFill(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: BatchOptions & { onProgress?: ProgressListener } = {},
): Promise<FillResult> {
  const { onProgress, ...rest } = options;
  const opts = parseOptions(batchOptionsSchema, 'fill', rest);
  return conversionStep(db, target.family, opts.dryRun, (s, op) =>
    fillOn(s, target, opts, op, onProgress),
  );
}

async function fillOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: z.output<typeof batchOptionsSchema>,
  op: KeyOperation | null,
  onProgress: ProgressListener | undefined,
): Promise<FillResult> {
  const family = target.family;
  const state = await readState(db, family);
  if (!reached(state, 'prepped'))
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} fill: run prep first`,
      { step: 'convert fill' },
    );
  if (reached(state, 'swapped')) {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} fill: already swapped; nothing to fill`,
      { step: 'convert fill' },
    );
  }
  const s = sides(family, false);
  for (const d of (state?.progress.derivations ?? []) as Derivation[]) {
    const missing = await query<{ n: string }>(
      db,
      `SELECT count(*)::text AS n FROM ${quoteQualified(s.legacy, d.table)} WHERE ${quoteIdent(d.column)} IS NULL`,
    );
    if (Number(missing[0]?.n ?? 0) > 0) {
      // After a finished backfill, the rows left are those it had nothing to give: their row
      // in the parent table has no value either (or is gone). Another backfill would not help.
      const what = reached(state, 'backfilled')
        ? `; backfill is done and had no value for them (their ${d.parent} row has no ` +
          `${d.parentColumn}, or there is none): set ${d.column} on them, or delete them, then run fill again`
        : '; run backfill first';
      throw new PgpartsError(
        'conversion-state',
        `pgparts: convert ${family.name} fill: ${Number(missing[0]?.n) === 1 ? '1 row' : `${missing[0]?.n} rows`} of ${s.legacy}.${d.table} ${Number(missing[0]?.n) === 1 ? 'has' : 'have'} no ` +
          `${d.column} yet${what}`,
        { step: 'convert fill', table: `${s.legacy}.${d.table}` },
      );
    }
  }
  const layouts = await readLayouts(db, target, s);
  const triggers: PlannedStatement[] = [
    ...layouts.flatMap((l) => conversionTriggerSql(family, s.legacy, l.name, 'forward')),
    ...conversionRemovalSql(family, layouts, 'forward', s),
  ].map((sql) => ({ sql, lockTimeoutMs: DEFAULT_LOCK_TIMEOUT_MS }));
  if (opts.dryRun) {
    const shown: PlannedStatement[] = [...triggers];
    for (const l of layouts) {
      shown.push({
        sql: `${copySql(l, s)} AND (${cols(l.legacyKey, 's')}) > (<last key>) AND (${cols(l.legacyKey, 's')}) <= (<key ${opts.batchSize} rows on>)`,
      });
    }
    shown.push(
      { sql: `-- replay, one statement per batch; ${REPLAY_PARAMETERS}` },
      { sql: templateText(conversionReplaySql(layouts, 'forward', s)) },
    );
    return {
      family: family.name,
      step: 'fill',
      sql: formatPlan(shown),
      dryRun: true,
      rowsCopied: 0,
      changesReplayed: 0,
      elapsedMs: 0,
    };
  }
  await recordPhase(op, 'fill');
  // An unswap's unfinished work (its views, its foreign keys) first.
  if (pendingAfterSwitch(state)) await finishAfterSwitch(db, family);
  const started = performance.now();
  // Triggers first: every change committed after this is logged, so the copy can be lazy.
  await executePlan(db, triggers, `convert ${family.name} fill`);
  let rowsCopied = 0;
  for (const layout of layouts) {
    const legacy = quoteQualified(s.legacy, layout.name);
    const total = await estimatedRows(db, legacy);
    for (;;) {
      const batch = await retryingConflicts(
        () =>
          batchTransaction(db, family, async (t) => {
            const key = `fill.${layout.name}`;
            let now = (await readState(t, family))?.progress[key] as FillProgress | undefined;
            if (!now) {
              const upTo = await maxKey(t, legacy, layout.legacyKey);
              now = { upTo, after: null, copied: 0, done: upTo === null };
              await setProgress(t, family, key, now);
            }
            if (now.done) return { progress: now, copied: 0 };
            const end =
              (await batchEnd(
                t,
                legacy,
                layout.legacyKey,
                { after: now.after, upTo: now.upTo },
                opts.batchSize,
              )) ?? now.upTo;
            const copied = await query<{ n: string }>(
              t,
              sql`WITH c AS (${sql.raw(copySql(layout, s))} AND ${inRange(legacy, layout.legacyKey, { after: now.after, upTo: end })} RETURNING 1)
              SELECT count(*)::text AS n FROM c`,
            );
            const n = Number(copied[0]?.n ?? 0);
            const next = { ...now, after: end, copied: now.copied + n, done: end === now.upTo };
            await setProgress(t, family, key, next);
            return { progress: next, copied: n };
          }),
        `convert ${family.name} fill: copy ${layout.name}`,
      );
      // Counted once its batch committed: a try that fails is tried again.
      rowsCopied += batch.copied;
      const progress = batch.progress;
      await onProgress?.({ step: 'fill', table: layout.name, done: progress.copied, total });
      if (progress.done) break;
      if (opts.throttleMs > 0) await sleep(opts.throttleMs);
    }
  }
  const replay = () => catchUp(db, target, layouts, 'forward', s, opts.batchSize, onProgress);
  // The foreign keys between the twins come at the swap (addTwinForeignKeys): every row a
  // replay writes into a twin referencing a partitioned twin pays a foreign key check through
  // the partitions (about 0.2 ms each, measured: a third of a replay batch's time).
  const changesReplayed = await replay();
  if (state && state.step !== 'filled') await setStep(db, family, 'filled');
  await recordPhase(op, 'filled');
  return {
    family: family.name,
    step: 'fill',
    sql: '',
    dryRun: false,
    rowsCopied,
    changesReplayed,
    elapsedMs: performance.now() - started,
  };
}
