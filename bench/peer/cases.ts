import { loadavg } from 'node:os';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import {
  type AnyPgDatabase,
  addIntervals,
  drainKey,
  type FamilySpec,
  inspect,
  intervalStart,
  maintain,
  type PartitionKey,
  status,
} from '../../src/index.js';
import { quoteIdent, quoteQualified } from '../../src/sql/identifiers.js';
import { BenchError } from '../bench-error.js';
import { step } from '../progress.js';
import { median } from '../stats.js';
import * as partman from './partman.js';
import { eventsFamily, installFamily } from './pgparts-side.js';
import {
  checksum,
  createEventsTable,
  createNotesTable,
  defaultRows,
  fillEvents,
  fillNotes,
  partitionCount,
} from './tables.js';
import type { PeerCase, PeerRun, Tool } from './types.js';
import { type WriterTarget, withWriters } from './writers.js';

/**
 * The side-by-side, case by case, on one database: pg_partman's tables in schema `pm` (and
 * `pm6`, `pmfk`), pgparts's in `pp` (`pp6`, `ppfk`), the same DDL and the same rows on both
 * sides. Each case runs pg_partman first, then pgparts, with two writers on the side being
 * measured. Months are counted from the server's current UTC month C: partitions C-6..C+3
 * (premake 3 on both), history rows in C-6..C-1, the DEFAULT writer in C-7 (no partition),
 * the existing-month writer in C.
 */

export interface PeerContext {
  url: string;
  database: string;
  /** Setup and pg_partman's calls (one connection, as a cron job would). */
  sql: postgres.Sql;
  /** pgparts's database for setup and drains: a postgres.js pool, as an app would pass it. */
  db: AnyPgDatabase;
  /**
   * pgparts's maintenance calls (no-op, retention): one connection of its own, as pg_partman's
   * calls have `sql`. On a pool, postgres.js hands its connections out in turn, so a tool's first
   * calls land on connections that have not yet planned its statements (catalog reads, 8-25 ms
   * each on a new connection); pg_partman's one connection had planned its function's once.
   */
  maintenanceDb: AnyPgDatabase;
  rows: number;
  now: Date;
  notes: string[];
}

// 15, not 5: single calls of either tool spread 6-35 ms on this machine; a median of 15 holds.
const NOOP_CALLS = 15;

const month = (ctx: PeerContext, k: number) =>
  addIntervals('month', intervalStart('month', ctx.now), k);

/**
 * The writers of a case: one into the current month, and (`both`) one into `defaultMonth`, a
 * month without a partition, whose rows go to DEFAULT.
 */
function targets(
  ctx: PeerContext,
  schema: string,
  table = 'events',
  both = true,
  defaultMonth = -7,
): WriterTarget[] {
  const existing: WriterTarget = {
    name: 'existing-month writer',
    schema,
    table,
    sequence: `${table}_id_seq`,
    from: month(ctx, 0),
    to: month(ctx, 1),
  };
  if (!both) return [existing];
  return [
    {
      name: 'DEFAULT writer',
      schema,
      table,
      sequence: `${table}_id_seq`,
      from: month(ctx, defaultMonth),
      to: month(ctx, defaultMonth + 1),
    },
    existing,
  ];
}

async function measured(
  ctx: PeerContext,
  tool: Tool,
  writers: WriterTarget[],
  work: () => Promise<string>,
  variant?: string,
): Promise<PeerRun> {
  const load = Math.round((loadavg()[0] ?? 0) * 100) / 100;
  const { result, ms, writers: figures } = await withWriters(ctx.url, writers, work);
  return { tool, ...(variant ? { variant } : {}), ms, writers: figures, load, note: result };
}

interface NoopSide {
  tool: Tool;
  writers: WriterTarget[];
  call: () => Promise<string>;
}

/** Many measured runs of one tool as one: the median time, the writers' worst. */
function combine(
  runs: PeerRun[],
  how = `median of ${NOOP_CALLS} calls (alternating with the other tool) after one that settles`,
): PeerRun {
  const samples = runs.map((r) => r.ms);
  const worst = (name: string, key: 'maxLatencyMs' | 'maxLockWaitMs') =>
    Math.max(...runs.map((r) => r.writers.find((w) => w.name === name)?.[key] ?? 0));
  const sum = (name: string, key: 'statements' | 'errors') =>
    runs.reduce((s, r) => s + (r.writers.find((w) => w.name === name)?.[key] ?? 0), 0);
  const first = runs[0] as PeerRun;
  return {
    ...first,
    ms: median(samples),
    samples,
    writers: first.writers.map((w) => ({
      ...w,
      statements: sum(w.name, 'statements'),
      errors: sum(w.name, 'errors'),
      maxLatencyMs: worst(w.name, 'maxLatencyMs'),
      maxLockWaitMs: worst(w.name, 'maxLockWaitMs'),
      longestWaitBehind:
        [...runs]
          .map((r) => r.writers.find((x) => x.name === w.name))
          .sort((a, b) => (b?.maxLockWaitMs ?? 0) - (a?.maxLockWaitMs ?? 0))[0]
          ?.longestWaitBehind ?? null,
    })),
    note: `${first.note}; ${how}`,
  };
}

/**
 * NOOP_CALLS timed calls per tool, the tools alternating call by call, after one call each that
 * settles; writers on the measured side during each call.
 */
async function noop(ctx: PeerContext, sides: [NoopSide, NoopSide]): Promise<PeerRun[]> {
  for (const side of sides) await side.call();
  const runs: PeerRun[][] = sides.map(() => []);
  for (let i = 0; i < NOOP_CALLS; i += 1) {
    for (const [k, side] of sides.entries()) {
      runs[k]?.push(await measured(ctx, side.tool, side.writers, side.call));
    }
  }
  return runs.map((r) => combine(r));
}

async function maintainNote(db: AnyPgDatabase, families: FamilySpec[], extra = {}) {
  const result = await maintain(db, { families, ...extra });
  if (!result.ok) {
    throw new BenchError(
      `bench --peer: maintain failed: ${result.results.map((r) => r.message).join('; ')}`,
    );
  }
  const steps = result.results.map((r) => `${r.step.kind} ${r.step.label} ${Math.round(r.ms)} ms`);
  return `maintain(): ${result.plan?.steps.length ?? 0} steps${steps.length ? ` (${steps.join(', ')})` : ''}`;
}

async function vacuumDefault(sql: postgres.Sql, schema: string, table = 'events') {
  const found = await defaultRows(sql, schema, table);
  if (found.name) await sql.unsafe(`VACUUM ANALYZE ${quoteQualified(schema, found.name)}`);
  return found;
}

/**
 * One table per tool, `<partman>.events` and `<pgparts>.events`, the same DDL: pg_partman's set
 * from C-`months` with premake 3; pgparts's family (`<pgparts>_events`, `past: months`)
 * installed one month short, then brought to premake 3 by maintain(), as an app's first
 * maintenance after its migrations would: that first run that changes something also carries
 * the family over to pgparts's ownership records, once (src/ops/ownership.ts). pg_partman's
 * create_parent does its own setup at install alike; the cases measure what recurs. Then
 * `perMonth` rows in each of C-`months`..C-1 on both sides, VACUUM ANALYZEd.
 */
async function setupSides(
  ctx: PeerContext,
  schemas: { partman: string; pgparts: string },
  months: number,
  perMonth: number,
): Promise<{ family: FamilySpec; first: string }> {
  await createEventsTable(ctx.sql, schemas.partman);
  await partman.createParent(ctx.sql, `${schemas.partman}.events`, month(ctx, -months), 3);
  await createEventsTable(ctx.sql, schemas.pgparts);
  const spec = (premake: number) =>
    eventsFamily({
      name: `${schemas.pgparts}_events`,
      schema: schemas.pgparts,
      past: months,
      premake,
    });
  await installFamily(ctx.sql, spec(2));
  const family = spec(3);
  const first = await maintainNote(ctx.db, [family]);
  for (const schema of [schemas.partman, schemas.pgparts]) {
    for (let k = -months; k < 0; k += 1) {
      await fillEvents(ctx.sql, schema, month(ctx, k), month(ctx, k + 1), perMonth);
    }
    await ctx.sql.unsafe(`VACUUM ANALYZE ${quoteQualified(schema, 'events')}`);
  }
  return { family, first };
}

/** Main tables: pm.events (pg_partman) and pp.events (pgparts), partitions C-6..C+3, history rows. */
export async function setupMain(ctx: PeerContext): Promise<FamilySpec> {
  const history = Math.round(ctx.rows / 2);
  const { family, first } = await setupSides(
    ctx,
    { partman: 'pm', pgparts: 'pp' },
    6,
    Math.round(history / 6),
  );
  const pm = await partitionCount(ctx.sql, 'pm', 'events');
  const pp = await partitionCount(ctx.sql, 'pp', 'events');
  ctx.notes.push(
    `Main tables: ${pm} (pg_partman) and ${pp} (pgparts) monthly partitions + DEFAULT, ${history} history rows in each (6 months). pgparts installed with premake 2 and brought to 3 by its first maintain() (${first}), which also carried the family over to its ownership records.`,
  );
  return family;
}

export async function noopEmpty(ctx: PeerContext, family: FamilySpec): Promise<PeerCase> {
  const runs = await noop(ctx, [
    {
      tool: 'pg_partman',
      writers: targets(ctx, 'pm', 'events', false),
      call: async () => {
        await partman.runMaintenance(ctx.sql, 'pm.events');
        return "run_maintenance('pm.events')";
      },
    },
    {
      tool: 'pgparts',
      writers: targets(ctx, 'pp', 'events', false),
      call: () => maintainNote(ctx.maintenanceDb, [family]),
    },
  ]);
  return {
    id: 'noop-empty',
    title: 'no-op maintenance, one table, empty DEFAULT',
    runs,
    note: 'Only the existing-month writer runs: a DEFAULT writer would make DEFAULT non-empty.',
  };
}

/** Stray rows (a month long gone, no partition) into both DEFAULTs. */
export async function addStrayRows(ctx: PeerContext): Promise<number> {
  const stray = Math.round(ctx.rows * 0.3);
  for (const schema of ['pm', 'pp']) {
    await fillEvents(ctx.sql, schema, month(ctx, -12), month(ctx, -11), stray);
    await vacuumDefault(ctx.sql, schema);
  }
  return stray;
}

export async function noopDefault(ctx: PeerContext, family: FamilySpec): Promise<PeerCase> {
  const before = await defaultRows(ctx.sql, 'pp', 'events');
  const runs = await noop(ctx, [
    {
      tool: 'pg_partman',
      writers: targets(ctx, 'pm'),
      call: async () => {
        await partman.runMaintenance(ctx.sql, 'pm.events');
        return "run_maintenance('pm.events')";
      },
    },
    {
      tool: 'pgparts',
      writers: targets(ctx, 'pp'),
      call: () => maintainNote(ctx.maintenanceDb, [family]),
    },
  ]);
  // Where pgparts's time goes: the catalog read (inspect, which counts DEFAULT's rows per key),
  // against a bare count of DEFAULT and pg_partman's own DEFAULT probe (max over its index).
  const inspectMs: number[] = [];
  const statusMs: number[] = [];
  for (let i = 0; i < NOOP_CALLS; i += 1) {
    const started = performance.now();
    const snapshot = await inspect(ctx.maintenanceDb, [family]);
    inspectMs.push(performance.now() - started);
    const planned = performance.now();
    status([family], snapshot);
    statusMs.push(performance.now() - planned);
  }
  const time = async (statement: string) => {
    const started = performance.now();
    await ctx.sql.unsafe(statement);
    return Math.round((performance.now() - started) * 10) / 10;
  };
  const countMs = await time(`SELECT count(*) FROM ${quoteQualified('pp', before.name ?? '')}`);
  const [explained] = await ctx.sql.unsafe<{ 'QUERY PLAN': string }[]>(
    `EXPLAIN (ANALYZE, FORMAT TEXT) SELECT count(*) FROM ${quoteQualified('pp', before.name ?? '')}`,
  );
  const maxMs = await time('SELECT max(occurred_at) FROM ONLY pm.events_default');
  return {
    id: 'noop-default',
    title: `no-op maintenance, ${before.rows} rows in DEFAULT`,
    runs,
    note:
      `Where pgparts's time goes (no writers): inspect() median ${median(inspectMs)} ms, plan+status (pure) ${median(statusMs)} ms; ` +
      `a bare count(*) of ${before.name} ${countMs} ms (${explained?.['QUERY PLAN'] ?? ''}); ` +
      `pg_partman reads DEFAULT once with max(occurred_at) over the occurred_at index: ${maxMs} ms.`,
  };
}

/**
 * A connection of its own, opened (and its first round trip made) before anything is timed.
 * A server process reads shared buffers through its own page tables: the first time it touches
 * a buffer costs a page fault per 4 kB page (no huge pages here), about 60 ms for a DEFAULT of
 * 25 MB. The fills run on pg_partman's connection, which has touched every page since; a scan
 * timed there would not pay what a cron job's new connection pays, and pgparts's would.
 */
async function freshConnection(ctx: PeerContext, max: number): Promise<postgres.Sql> {
  const fresh = postgres(ctx.url, { max, onnotice: () => {} });
  await fresh`SELECT 1`;
  return fresh;
}

export async function createNext(ctx: PeerContext, family: FamilySpec): Promise<PeerCase> {
  const rows = (await defaultRows(ctx.sql, 'pp', 'events')).rows;
  await partman.setPremake(ctx.sql, 'pm.events', 4);
  // Both tools on a new connection, as a cron job runs them (freshConnection says why).
  const cron = await freshConnection(ctx, 1);
  const app = await freshConnection(ctx, 2);
  try {
    const pm = await measured(ctx, 'pg_partman', targets(ctx, 'pm'), async () => {
      await partman.runMaintenance(cron, 'pm.events');
      return "premake 3 -> 4 in part_config, then run_maintenance('pm.events') on a new connection";
    });
    const next = { ...family, partitionBy: { ...family.partitionBy, premake: 4 } } as FamilySpec;
    const pp = await measured(ctx, 'pgparts', targets(ctx, 'pp'), async () => {
      const note = await maintainNote(drizzle(app), [next]);
      return `premake 3 -> 4 in the spec, then ${note} on a new connection`;
    });
    const created = [
      await partitionCount(ctx.sql, 'pm', 'events'),
      await partitionCount(ctx.sql, 'pp', 'events'),
    ];
    return {
      id: 'create-next',
      title: `create next month, ${rows} stray rows in DEFAULT`,
      runs: [pm, pp],
      note: `Partitions after: pg_partman ${created[0]}, pgparts ${created[1]}. Creating a partition must prove DEFAULT holds none of its rows: pg_partman's ATTACH scans DEFAULT under its ACCESS EXCLUSIVE lock; pgparts validates a CHECK on DEFAULT first (the same scan, under SHARE UPDATE EXCLUSIVE: writers go on), so its ATTACH holds DEFAULT for catalog work only. Each tool runs on a connection opened for it (its first round trip made before the timing): a server process's first read of a shared buffer costs it a page fault per 4 kB page (no huge pages on this machine), about 60 ms over a DEFAULT of 25 MB, which the setup's connection, having written every page, would not pay.`,
    };
  } finally {
    await Promise.all([cron.end(), app.end()]);
  }
}

/** Retentions timed per tool, the tools alternating, each removing the oldest month left. */
const RETENTION_CALLS = 9;
/** Months of history the retention tables hold (C-12..C-1): one per retention, three left. */
const RETENTION_MONTHS = RETENTION_CALLS + 3;
/** The retention tables' DEFAULT writer: a month older than any of their partitions. */
const RETENTION_DEFAULT_MONTH = -RETENTION_MONTHS - 2;

export async function retention(ctx: PeerContext): Promise<PeerCase> {
  const perMonth = Math.round(ctx.rows / 2 / 6);
  // Tables of their own, as full per month as the main ones, with months enough for
  // RETENTION_CALLS retentions: a median of three (the main tables' six months of history
  // allowed no more) moved by a factor of two between runs.
  const { first } = await step('retention tables', () =>
    setupSides(ctx, { partman: 'pmr', pgparts: 'ppr' }, RETENTION_MONTHS, perMonth),
  );
  const before = [
    await partitionCount(ctx.sql, 'pmr', 'events'),
    await partitionCount(ctx.sql, 'ppr', 'events'),
  ];
  const writers = (schema: string) => targets(ctx, schema, 'events', true, RETENTION_DEFAULT_MONTH);
  const runs: [PeerRun[], PeerRun[]] = [[], []];
  for (let i = 0; i < RETENTION_CALLS; i += 1) {
    // pg_partman drops a partition once its end is older than now() - retention: the midpoint
    // of the month after the oldest makes exactly the oldest old enough, as keep does for pgparts.
    const oldest = -RETENTION_MONTHS + i;
    const middle = new Date(
      (month(ctx, oldest + 1).getTime() + month(ctx, oldest + 2).getTime()) / 2,
    );
    const [row] = await ctx.sql<{ s: number }[]>`
      SELECT floor(extract(epoch FROM now() - ${middle.toISOString()}::timestamptz))::bigint AS s`;
    const retentionText = `${row?.s ?? 0} seconds`;
    await partman.setRetention(ctx.sql, 'pmr.events', retentionText);
    runs[0].push(
      await measured(ctx, 'pg_partman', writers('pmr'), async () => {
        await partman.runMaintenance(ctx.sql, 'pmr.events');
        return `part_config retention '${retentionText}' (then shorter), retention_keep_table false; run_maintenance('pmr.events')`;
      }),
    );
    await partman.setRetention(ctx.sql, 'pmr.events', null);
    const keep = -oldest - 1;
    const kept = eventsFamily({ name: 'ppr_events', schema: 'ppr', keep });
    runs[1].push(
      await measured(ctx, 'pgparts', writers('ppr'), async () => {
        const note = await maintainNote(ctx.maintenanceDb, [kept], { allowDestructive: true });
        return `retention { keep: ${keep} (then fewer), mode: 'drop' } in the spec; ${note} with allowDestructive`;
      }),
    );
  }
  const how = `median of ${RETENTION_CALLS} retentions (alternating with the other tool), each of the oldest month left; the first includes what each tool does once on a connection (planning its statements)`;
  const [pm, pp] = [combine(runs[0], how), combine(runs[1], how)];
  const after = [
    await partitionCount(ctx.sql, 'pmr', 'events'),
    await partitionCount(ctx.sql, 'ppr', 'events'),
  ];
  return {
    id: 'retention',
    title: 'retention of one month (the oldest), writers on',
    runs: [pm, pp],
    note: `Tables of their own, pmr.events (pg_partman) and ppr.events (pgparts): ${RETENTION_MONTHS} months of ${perMonth} rows each (C-${RETENTION_MONTHS}..C-1), partitions to C+3 and DEFAULT; the DEFAULT writer's month is C${RETENTION_DEFAULT_MONTH}. pgparts installed with premake 2 and carried over by its first maintain() (${first}). Partitions before/after: pg_partman ${before[0]} -> ${after[0]}, pgparts ${before[1]} -> ${after[1]}. Runs before 2026-12-04 (afternoon) retired 3 months of the main tables, with 300,000 stray rows in their DEFAULT.`,
  };
}

/** Takes the stray rows out again, so DEFAULT holds only what the drain case puts there. */
export async function removeStrayRows(ctx: PeerContext): Promise<void> {
  for (const schema of ['pm', 'pp']) {
    await ctx.sql.unsafe(
      `DELETE FROM ${quoteQualified(schema, 'events')} WHERE occurred_at >= $1 AND occurred_at < $2`,
      [month(ctx, -12).toISOString(), month(ctx, -11).toISOString()],
    );
    await vacuumDefault(ctx.sql, schema);
  }
}

async function integrityOf(
  ctx: PeerContext,
  schema: string,
  tables: string[],
  from: Date,
  to: Date,
  work: () => Promise<PeerRun>,
): Promise<PeerRun> {
  const before = await Promise.all(tables.map((t) => checksum(ctx.sql, schema, t, from, to)));
  const result = await work();
  const after = await Promise.all(tables.map((t) => checksum(ctx.sql, schema, t, from, to)));
  const left = await Promise.all(tables.map((t) => defaultRows(ctx.sql, schema, t)));
  const integrity = tables.map((table, i) => ({
    table,
    before: before[i]?.rows ?? 0,
    after: after[i]?.rows ?? 0,
    checksumEqual: before[i]?.sum === after[i]?.sum && before[i]?.rows === after[i]?.rows,
  }));
  const inDefault = left.map((l, i) => `${tables[i]} DEFAULT ${l.rows}`).join(', ');
  return {
    ...result,
    integrity,
    note: `${result.note}; after: ${inDefault} rows (writers' own rows included)`,
  };
}

const key = (from: Date, to: Date): PartitionKey => ({ kind: 'range', from, to });

/**
 * The memory pgparts's drains give each index build after the copy (maintenanceWorkMem): the
 * primary key of a month of 1M rows needs about 71 MB to sort in memory, more than PostgreSQL's
 * default 64MB. Runs before 2026-12-02 used the server's default.
 */
const DRAIN_BUILD_MEMORY = '256MB';

export async function drains(ctx: PeerContext, family: FamilySpec): Promise<PeerCase> {
  const runs: PeerRun[] = [];
  const d = [month(ctx, -8), month(ctx, -7)] as const;
  await step(`pg_partman: ${ctx.rows} rows into DEFAULT`, async () => {
    await fillEvents(ctx.sql, 'pm', d[0], d[1], ctx.rows);
    await vacuumDefault(ctx.sql, 'pm');
  });
  runs.push(
    await step('pg_partman: partition_data_proc', () =>
      integrityOf(ctx, 'pm', ['events'], d[0], d[1], () =>
        measured(ctx, 'pg_partman', targets(ctx, 'pm'), async () => {
          await partman.partitionData(ctx.sql, 'pm.events');
          return "CALL partition_data_proc('pm.events', p_batch := 1)";
        }),
      ),
    ),
  );
  const pgpartsDrain = async (
    k: number,
    strategy: 'delete' | 'auto',
    db: AnyPgDatabase,
    variant: string,
  ) => {
    const from = month(ctx, k);
    const to = month(ctx, k + 1);
    await step(`pgparts: ${ctx.rows} rows into DEFAULT`, async () => {
      await fillEvents(ctx.sql, 'pp', from, to, ctx.rows);
      await vacuumDefault(ctx.sql, 'pp');
    });
    runs.push(
      await step(`pgparts: drainKey (${variant})`, () =>
        integrityOf(ctx, 'pp', ['events'], from, to, () =>
          measured(
            ctx,
            'pgparts',
            targets(ctx, 'pp'),
            async () => {
              const r = await drainKey(db, family, key(from, to), {
                strategy,
                maintenanceWorkMem: DRAIN_BUILD_MEMORY,
              });
              if (r.strategy !== variant.split(',')[0])
                throw new Error(`drainKey(${strategy}) drained by ${r.strategy}, not ${variant}`);
              const f = r.finalPhase;
              const round = (v: number) => Math.round(v);
              return `drainKey(${strategy}, maintenanceWorkMem ${DRAIN_BUILD_MEMORY}): ${r.status} by ${r.strategy}, ${r.rowsMoved} rows, lock hold ${round(r.maxLockHoldMs)} ms = replay ${round(f.replayMs)} + delete ${round(f.deleteMs)} + attach/swap ${round(f.attachMs)} + other ${round(f.otherMs)} ms, ${r.finalAttempts} final attempt(s), copied on ${r.copyConnections} connection(s)${r.swap ? `; keys validated after: ${round(r.swap.validateMs)} ms` : ''}`;
            },
            variant,
          ),
        ),
      ),
    );
  };
  await pgpartsDrain(-8, 'delete', ctx.db, 'delete');
  // auto, the default: on this table (one table, no foreign keys) it swaps on every PostgreSQL.
  await pgpartsDrain(-9, 'auto', ctx.db, 'swap');
  // The same swap with jit off for the database (new connections), to show what JIT costs
  // under the swap's locks; writers and pgparts both on fresh connections.
  await ctx.sql.unsafe(`ALTER DATABASE ${quoteIdent(ctx.database)} SET jit = off`);
  const jitOff = postgres(ctx.url, { max: 4, onnotice: () => {} });
  try {
    await pgpartsDrain(-10, 'auto', drizzle(jitOff), 'swap, jit=off');
  } finally {
    await jitOff.end();
    await ctx.sql.unsafe(`ALTER DATABASE ${quoteIdent(ctx.database)} RESET jit`);
  }
  return {
    id: 'drain',
    title: `move ${ctx.rows} rows out of DEFAULT`,
    runs,
    note: `Each drain moves a month of rows the case put in DEFAULT (its own month per run); the DEFAULT writer's month stays in DEFAULT. pgparts's swap is what its default strategy (auto) picks for this table, on PostgreSQL 14-18 alike (one table, no foreign keys; on PostgreSQL 14-17 only foreign keys between a family's tables keep auto on delete); delete is forced for comparison; the jit=off run sets jit off for the database to show the JIT cost under the lock. pgparts's drains give each index build after the copy ${DRAIN_BUILD_MEMORY} of maintenance_work_mem (the option maintenanceWorkMem; its default is the server's 64MB, in which the primary key of 1M rows sorts on disk); pg_partman inserts into a partition whose indexes exist, and builds none.`,
  };
}

/** Six tables, no rows beyond the writers': maintenance of all of them at once. */
export async function noopSix(ctx: PeerContext): Promise<PeerCase> {
  const families: FamilySpec[] = [];
  for (let i = 1; i <= 6; i += 1) {
    await createEventsTable(ctx.sql, 'pm6', `events_${i}`);
    await partman.createParent(ctx.sql, `pm6.events_${i}`, month(ctx, -6), 3);
    await createEventsTable(ctx.sql, 'pp6', `events_${i}`);
    const family = eventsFamily({
      name: `pp6_events_${i}`,
      schema: 'pp6',
      table: `events_${i}`,
      past: 6,
    });
    await installFamily(ctx.sql, family);
    families.push(family);
  }
  await partman.onlyMaintain(ctx.sql, 'pm6.%');
  const runs = await noop(ctx, [
    {
      tool: 'pg_partman',
      writers: targets(ctx, 'pm6', 'events_1'),
      call: async () => {
        await partman.runMaintenanceProc(ctx.sql);
        return 'CALL run_maintenance_proc() (only the 6 sets have automatic_maintenance on)';
      },
    },
    {
      tool: 'pgparts',
      writers: targets(ctx, 'pp6', 'events_1'),
      call: () => maintainNote(ctx.maintenanceDb, families),
    },
  ]);
  return {
    id: 'noop-six',
    title: 'no-op maintenance over 6 tables',
    runs,
    note: 'Six monthly sets/families, partitions C-6..C+3 + DEFAULT; writers on events_1.',
  };
}

/** events + event_notes (FK ON DELETE CASCADE), a month of both in DEFAULT, moved out. */
export async function foreignKey(ctx: PeerContext): Promise<PeerCase> {
  const rows = Math.min(100_000, Math.round(ctx.rows / 10));
  const from = month(ctx, -8);
  const to = month(ctx, -7);
  await createEventsTable(ctx.sql, 'pmfk');
  await createNotesTable(ctx.sql, 'pmfk');
  await partman.createParent(ctx.sql, 'pmfk.events', month(ctx, -6), 3);
  await partman.createParent(ctx.sql, 'pmfk.event_notes', month(ctx, -6), 3);
  await createEventsTable(ctx.sql, 'ppfk');
  await createNotesTable(ctx.sql, 'ppfk');
  const family = eventsFamily({ name: 'ppfk_events', schema: 'ppfk', past: 6, withNotes: true });
  await installFamily(ctx.sql, family);
  for (const schema of ['pmfk', 'ppfk']) {
    await fillEvents(ctx.sql, schema, from, to, rows);
    await fillNotes(ctx.sql, schema, from, to);
    await vacuumDefault(ctx.sql, schema);
    await vacuumDefault(ctx.sql, schema, 'event_notes');
  }
  const pm = await integrityOf(ctx, 'pmfk', ['events', 'event_notes'], from, to, () =>
    measured(ctx, 'pg_partman', targets(ctx, 'pmfk'), async () => {
      await partman.partitionData(ctx.sql, 'pmfk.events');
      await partman.partitionData(ctx.sql, 'pmfk.event_notes');
      return 'partition_data_proc on events, then on event_notes (referenced first)';
    }),
  );
  const pp = await integrityOf(ctx, 'ppfk', ['events', 'event_notes'], from, to, () =>
    measured(ctx, 'pgparts', targets(ctx, 'ppfk'), async () => {
      const r = await drainKey(ctx.db, family, key(from, to));
      return `drainKey (auto: ${r.strategy}): ${r.rowsMoved} rows over ${r.tables.length} tables, lock hold ${Math.round(r.maxLockHoldMs)} ms`;
    }),
  );
  return {
    id: 'foreign-key',
    title: `family with a foreign key ON DELETE CASCADE, ${rows} rows in each table's DEFAULT`,
    runs: [pm, pp],
    note: 'Rows of the month before and after, counted and checksummed through the parents.',
  };
}
