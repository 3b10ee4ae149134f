import { sql } from 'drizzle-orm';
import type { z } from 'zod';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { batchEnd, inRange } from './keyset.js';
import { cols } from './layout.js';
import { readTable } from './legacy-catalog.js';
import { conversionStep, recordPhase } from './operation.js';
import { formatPlan } from './planned.js';
import type { ConvertStepResult } from './prep.js';
import { query, sleep } from './run-sql.js';
import { lockFamily, reached, readState, setProgress, setStep } from './state.js';
import {
  type BatchOptions,
  batchOptionsSchema,
  type ConversionTarget,
  parseOptions,
} from './target.js';
import type { Derivation } from './twin-ddl.js';

export interface BatchProgress {
  step: 'backfill' | 'fill' | 'replay';
  table: string;
  /** rows done so far in this table (all runs of the step) */
  done: number;
  /** estimate of the table's rows (pg_class.reltuples), for a progress bar; replay: done + behind */
  total: number;
  /** replay: changes still in the log (writers keep adding to it) */
  behind?: number;
  /** replay: changes replayed per second so far */
  ratePerSecond?: number;
}

export type ProgressListener = (p: BatchProgress) => void | Promise<void>;

export async function estimatedRows(db: AnyPgDatabase, table: string): Promise<number> {
  const rows = await query<{ n: number }>(
    db,
    sql`SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = ${table}::regclass`,
  );
  return Number(rows[0]?.n ?? 0);
}

interface BackfillProgress {
  after: string | null;
  updated: number;
  done: boolean;
}

function updateSql(schema: string, d: Derivation) {
  const table = quoteQualified(schema, d.table);
  const match = d.join.map(([here, there]) => `p.${quoteIdent(there)} = s.${quoteIdent(here)}`);
  return {
    table,
    // A lookup per row through the parent's unique key, not a join: a join plan may hash the
    // whole parent table for every batch (seen: 5M members took 16k rows/s that way).
    head:
      `UPDATE ${table} s SET ${quoteIdent(d.column)} = (SELECT p.${quoteIdent(d.parentColumn)} ` +
      `FROM ${quoteQualified(schema, d.parent)} p WHERE ${match.join(' AND ')}) ` +
      `WHERE s.${quoteIdent(d.column)} IS NULL`,
  };
}

/**
 * Step 2, backfill: sets the partition column on legacy rows that lack it (the members' season_id,
 * taken from their run), in primary-key batches with a short transaction each, instead of the
 * plan's single UPDATE of the whole table. Resumable: each batch records where it stopped.
 */
export async function convertBackfill(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: BatchOptions & { onProgress?: ProgressListener } = {},
): Promise<ConvertStepResult & { rowsUpdated: number; elapsedMs: number }> {
  const { onProgress, ...rest } = options;
  const opts = parseOptions(batchOptionsSchema, 'backfill', rest);
  return conversionStep(db, target.family, opts.dryRun, (s, op) =>
    backfillOn(s, target, opts, op, onProgress),
  );
}

async function backfillOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: z.output<typeof batchOptionsSchema>,
  op: KeyOperation | null,
  onProgress: ProgressListener | undefined,
): Promise<ConvertStepResult & { rowsUpdated: number; elapsedMs: number }> {
  const family = target.family;
  const state = await readState(db, family);
  if (!reached(state, 'prepped')) {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} backfill: run prep first`,
      { step: 'convert backfill' },
    );
  }
  if (reached(state, 'swapped')) {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} backfill: already swapped; nothing to backfill`,
      { step: 'convert backfill' },
    );
  }
  const derivations = (state?.progress.derivations ?? []) as Derivation[];
  if (!opts.dryRun) await recordPhase(op, 'backfill');
  const started = performance.now();
  let rowsUpdated = 0;
  const shown: string[] = [];
  for (const d of derivations) {
    const { table, head } = updateSql(family.schema, d);
    const legacy = await readTable(db, family.schema, d.table);
    const key = legacy?.primaryKey ?? [];
    shown.push(
      `${head} AND (${cols(key, 's')}) > (<last key>) AND (${cols(key, 's')}) <= (<key ${opts.batchSize} rows on>)`,
    );
    if (opts.dryRun) continue;
    const total = await estimatedRows(db, table);
    for (;;) {
      const progress = await db.transaction(async (tx) => {
        const t = tx as unknown as AnyPgDatabase;
        await lockFamily(t, family);
        const now = ((await readState(t, family))?.progress[`backfill.${d.table}`] ?? {
          after: null,
          updated: 0,
          done: false,
        }) as BackfillProgress;
        if (now.done) return now;
        const end = await batchEnd(t, table, key, { after: now.after, upTo: null }, opts.batchSize);
        const range = { after: now.after, upTo: end };
        const updated = await query<{ n: string }>(
          t,
          sql`WITH u AS (${sql.raw(head)} AND ${inRange(table, key, range)} RETURNING 1) SELECT count(*)::text AS n FROM u`,
        );
        const n = Number(updated[0]?.n ?? 0);
        rowsUpdated += n;
        const next = { after: end, updated: now.updated + n, done: end === null };
        await setProgress(t, family, `backfill.${d.table}`, next);
        return next;
      });
      await onProgress?.({ step: 'backfill', table: d.table, done: progress.updated, total });
      if (progress.done) break;
      if (opts.throttleMs > 0) await sleep(opts.throttleMs);
    }
  }
  if (!opts.dryRun && state?.step === 'prepped') await setStep(db, family, 'backfilled');
  // Ended, not interrupted: status tells a conversion paused between steps from one cut short.
  if (!opts.dryRun) await recordPhase(op, 'backfilled');
  return {
    family: family.name,
    step: 'backfill',
    sql: shown.length > 0 ? formatPlan(shown.map((s) => ({ sql: s }))) : '-- nothing to backfill',
    dryRun: opts.dryRun,
    rowsUpdated,
    elapsedMs: performance.now() - started,
  };
}
