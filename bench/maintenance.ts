import type postgres from 'postgres';
import { RETIRED_KEYS_TABLE } from '../src/catalog/retired-keys.js';
import type { PartitionKey } from '../src/define/partition-key.js';
import { killmailFamily } from '../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../src/domains/leaderboard/partitioning.js';
import { builtInFamilies } from '../src/domains/presets.js';
import { drainKey } from '../src/ops/drain/drain.js';
import { retireKey as retire, unretireKey } from '../src/ops/retention.js';
import { apply } from '../src/run/apply.js';
import type { AnyPgDatabase } from '../src/run/database.js';
import { maintain } from '../src/run/maintain.js';
import { quoteQualified } from '../src/sql/identifiers.js';
import { BenchError } from './bench-error.js';
import { utcMonth } from './generate/killmails.js';
import { generateSeasonRuns } from './generate/leaderboard.js';
import { createNameFunction, dropNameFunction } from './generate/names.js';
import type { Scale } from './generate/scale.js';
import type { IndexReplacementResult } from './index-replacement.js';
import { step } from './progress.js';
import { median } from './stats.js';
import { TWIN_SCHEMA } from './twin.js';

export interface MaintenanceResult {
  noopApplyMs: number | null;
  noopApplyNote: string;
  createMonthMs: number | null;
  createMonthNote: string;
  retention: {
    month: string;
    retireDropMs: number;
    rowsRemoved: number;
    detach: string;
    deleteMs: number;
    deleteRows: number;
    /** retire / DELETE */
    ratio: number;
    note: string;
  };
  /** The drain with strategy auto (a swap on PostgreSQL 18). */
  drain: DrainFigure | null;
  /** The same drain with strategy delete, for comparison. */
  drainDelete?: DrainFigure | null;
  /** A changed index on killmails_raw: dropped then built, and replaced online (index-replacement.ts). */
  indexReplacement?: IndexReplacementResult | null;
}

export interface DrainFigure {
  strategy?: string;
  rowsInDefault: number;
  rowsMoved: number;
  elapsedMs: number;
  rowsPerSecond: number;
  maxLockHoldMs: number;
  note: string;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** The exclusive upper bound of the newest killmails_raw partition. */
async function newestMonthEnd(sql: postgres.Sql): Promise<Date> {
  const [row] = await sql<{ upper: Date }[]>`
    SELECT max((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz) AS upper
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.killmails_raw'::regclass`;
  if (!row?.upper) throw new BenchError('bench: killmails_raw has no partitions');
  return new Date(row.upper);
}

async function oldestMonthStart(sql: postgres.Sql): Promise<Date> {
  const [row] = await sql<{ lower: Date }[]>`
    SELECT min((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz) AS lower
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.killmails_raw'::regclass`;
  if (!row?.lower) throw new BenchError('bench: killmails_raw has no partitions');
  return new Date(row.lower);
}

/** A no-op apply: maintain() once to settle, then the median of 5 runs that find nothing to do. */
async function noopApply(db: AnyPgDatabase): Promise<{ ms: number; note: string }> {
  await maintain(db, { families: builtInFamilies });
  const times: number[] = [];
  let note = '';
  for (let i = 0; i < 5; i += 1) {
    const started = performance.now();
    const result = await maintain(db, { families: builtInFamilies });
    times.push(performance.now() - started);
    note = `maintain(): ${result.plan?.steps.length ?? 0} steps planned, ${result.done} done, ${result.skipped} skipped (retention needs allowDestructive); median of 5`;
  }
  return { ms: median(times), note };
}

/** One more month (3 tables): apply() with a clock whose premake window reaches one month further. */
async function createMonth(sql: postgres.Sql, db: AnyPgDatabase) {
  const end = await newestMonthEnd(sql);
  const now = new Date(utcMonth(end, -3).getTime() + 24 * 3_600_000);
  const started = performance.now();
  const result = await apply(db, { families: [killmailFamily], now, retention: false });
  const ms = performance.now() - started;
  const steps = result.plan?.steps ?? [];
  const partitions = steps.flatMap((s) => s.partitions);
  return {
    ms: round(ms),
    note: `apply() for ${end.toISOString().slice(0, 7)}: ${partitions.join(', ')} (${result.done} steps, wall time with inspect and plan)`,
  };
}

/** retireKey(drop) of the oldest month vs DELETE of the same rows from the twin (one transaction). */
async function retention(sql: postgres.Sql, db: AnyPgDatabase) {
  const from = await oldestMonthStart(sql);
  const to = utcMonth(from, 1);
  const month = from.toISOString().slice(0, 7);
  const twin = (t: string) => quoteQualified(TWIN_SCHEMA, t);
  const started = performance.now();
  const deleted = await sql.begin(async (tx) => {
    let rows = 0;
    for (const table of ['killmail_participants', 'killmails_enriched', 'killmails_raw']) {
      const result = await tx.unsafe(
        `DELETE FROM ${twin(table)} WHERE killmail_time >= $1::timestamptz AND killmail_time < $2::timestamptz`,
        [from.toISOString(), to.toISOString()],
      );
      rows += result.count;
    }
    return rows;
  });
  const deleteMs = round(performance.now() - started);
  const key: PartitionKey = { kind: 'range', from, to };
  const result = await retire(db, killmailFamily, key, { mode: 'drop' });
  const rows = result.partitions.reduce((sum, p) => sum + Number(p.rows), 0);
  return {
    month,
    retireDropMs: round(result.elapsedMs),
    rowsRemoved: rows,
    detach: result.detach,
    deleteMs,
    deleteRows: deleted,
    ratio: Math.round((result.elapsedMs / deleteMs) * 10_000) / 10_000,
    note: `oldest month ${month}, 3 tables; DELETE from the three twin tables in one transaction (then commit)`,
  };
}

/**
 * A season that arrived before its partitions: its season row, runs/5 runs (at most 200k) and 4
 * members each (1M rows at the default scale and above) inserted into DEFAULT, then drainKey
 * moves them out. The issue asks for the drain at 1M rows in DEFAULT, at every scale.
 */
const DRAIN_CAP_MS = 8 * 60_000;
const DRAIN_RUNS = 200_000;

async function drain(
  sql: postgres.Sql,
  db: AnyPgDatabase,
  s: Scale,
  watcher: postgres.Sql,
  strategy: 'auto' | 'delete',
): Promise<DrainFigure> {
  const [last] = await sql<{ id: number }[]>`SELECT max(id) AS id FROM season`;
  const id = Number(last?.id ?? 0) + 1;
  await sql`INSERT INTO season (id, name, starts_at, ends_at)
    SELECT ${id}, ${`Season ${id}`}, ends_at, ends_at + ${s.periodsPerSeason} * interval '1 week'
    FROM season WHERE id = ${id - 1}`;
  await sql`INSERT INTO period (id, season_id, starts_at, ends_at)
    SELECT (${id} - 1) * ${s.periodsPerSeason} + k, ${id}, NULL, NULL
    FROM generate_series(1, ${s.periodsPerSeason}::int) k`;
  await createNameFunction(db);
  await step(`season ${id} into DEFAULT`, () =>
    generateSeasonRuns(sql, s, id, Math.min(s.runs, DRAIN_RUNS), 4),
  );
  await dropNameFunction(db);
  await sql.unsafe('ANALYZE leaderboard_run_default, run_group_member_default');
  const [counted] = await sql<{ n: string }[]>`
    SELECT (SELECT count(*) FROM leaderboard_run_default) + (SELECT count(*) FROM run_group_member_default) AS n`;
  // Capped: past the cap the drain's statement is cancelled and the statement it was in reported.
  const [self] = await sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  let stuckIn: string | null = null;
  const timer = setTimeout(async () => {
    const [running] = await watcher<{ query: string }[]>`
      SELECT query FROM pg_stat_activity WHERE pid = ${self?.pid ?? 0}`;
    stuckIn = running?.query ?? null;
    await watcher`SELECT pg_cancel_backend(${self?.pid ?? 0})`;
  }, DRAIN_CAP_MS);
  let result: Awaited<ReturnType<typeof drainKey>>;
  try {
    result = await drainKey(db, leaderboardFamily, { kind: 'list', value: id }, { strategy });
  } catch (error) {
    if (!stuckIn) throw error;
    return {
      strategy,
      rowsInDefault: Number(counted?.n ?? 0),
      rowsMoved: 0,
      elapsedMs: DRAIN_CAP_MS,
      rowsPerSecond: 0,
      maxLockHoldMs: 0,
      note: `season ${id}: not finished within ${DRAIN_CAP_MS / 60_000} min; cancelled in: ${String(stuckIn).slice(0, 200)}`,
    };
  } finally {
    clearTimeout(timer);
  }
  const f = result.finalPhase;
  const validated = result.swap
    ? `; foreign keys validated online after: ${round(result.swap.validateMs)} ms`
    : '';
  return {
    strategy: result.strategy ?? strategy,
    rowsInDefault: Number(counted?.n ?? 0),
    rowsMoved: result.rowsMoved,
    elapsedMs: round(result.elapsedMs),
    rowsPerSecond: Math.round(result.rowsMoved / (result.elapsedMs / 1000)),
    maxLockHoldMs: round(result.maxLockHoldMs),
    note: `season ${id}: ${result.status} by ${result.strategy}, final phase attempts ${result.finalAttempts}, triggers skipped ${result.skippedTriggers}; lock hold = replay ${round(f.replayMs)} ms + delete from DEFAULT ${round(f.deleteMs)} ms + ${result.strategy === 'swap' ? 'swap (detach, drop, attach, keys NOT VALID)' : 'attach'} ${round(f.attachMs)} ms + other ${round(f.otherMs)} ms${validated}`,
  };
}

/**
 * Removes the seasons the drain measurements added (ids past the data set's seasons), so the
 * partitioned side holds the twin's rows again: their partitions retired (drop), rows left in
 * DEFAULT by a cancelled drain deleted, then their periods and season rows.
 */
export async function removeDrainSeasons(sql: postgres.Sql, db: AnyPgDatabase, s: Scale) {
  const extra = await sql<
    { id: number }[]
  >`SELECT id FROM season WHERE id > ${s.seasons} ORDER BY id`;
  for (const { id } of extra) {
    const key = { kind: 'list', value: Number(id) } as const;
    const [attached] = await sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = to_regclass(${`leaderboard_run_s${id}`})`;
    if ((attached?.n ?? 0) > 0) await retire(db, leaderboardFamily, key, { mode: 'drop' });
    await sql`DELETE FROM leaderboard_run WHERE season_id = ${id}`;
    await sql`DELETE FROM period WHERE season_id = ${id}`;
    await sql`DELETE FROM season WHERE id = ${id}`;
  }
  // Retiring records the key, and a drain refuses a retired key: the next measurement reuses
  // these ids, so their records go too (a season whose rows were removed before the record was
  // forgotten included).
  const retired = await sql<{ key: string }[]>`
    SELECT key FROM ${sql(RETIRED_KEYS_TABLE)}
    WHERE family = ${leaderboardFamily.name} AND key ~ '^[0-9]+$' AND key::int > ${s.seasons}`;
  for (const { key } of retired)
    await unretireKey(db, leaderboardFamily, { kind: 'list', value: Number(key) });
  return extra.length;
}

export async function runMaintenance(
  sql: postgres.Sql,
  db: AnyPgDatabase,
  s: Scale,
  /** A second client on the database, to watch and cancel a drain past its cap. */
  watcher: postgres.Sql,
): Promise<MaintenanceResult> {
  const noop = await step('no-op apply', () => noopApply(db));
  const month = await step('create one month (3 tables)', () => createMonth(sql, db));
  const retired = await step('retention: retireKey vs DELETE', () => retention(sql, db));
  const drained = await step('drain a season out of DEFAULT (auto: swap on 18)', () =>
    drain(sql, db, s, watcher, 'auto'),
  );
  const deleted = await step('drain a season out of DEFAULT (delete)', () =>
    drain(sql, db, s, watcher, 'delete'),
  );
  await step('remove the drained seasons', () => removeDrainSeasons(sql, db, s));
  return {
    noopApplyMs: noop.ms,
    noopApplyNote: noop.note,
    createMonthMs: month.ms,
    createMonthNote: month.note,
    retention: retired,
    drain: drained,
    drainDelete: deleted,
  };
}
