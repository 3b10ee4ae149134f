/**
 * `npm run bench -- --only scale`: how pgparts's costs grow with the partitions per table. A
 * daily family (events, DEFAULT, premake 3) with 16, 100 and 1,000 partitions (1,000 days is
 * about three years), 200 rows a day; for each: a no-op maintain(), inspect() + status(), and
 * two pruning hot queries (an hour's range, a point lookup by primary key), each as a prepared
 * statement with bind parameters (postgres.js's default) and with the values inlined (planned
 * on every call). Writes bench/results/scale.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { addIntervals, inspect, intervalStart, maintain, status } from '../../src/index.js';
import { quoteQualified } from '../../src/sql/identifiers.js';
import { eventsFamily, installFamily } from '../peer/pgparts-side.js';
import { createEventsTable, fillEvents, partitionCount } from '../peer/tables.js';
import { step } from '../progress.js';
import { dropDatabase, ensureDatabase, startBenchServer, withDatabase } from '../server.js';
import { type Latency, latency, median } from '../stats.js';

export const PARTITION_COUNTS = [16, 100, 1000] as const;
export const NOOP_TARGET_MS = 100;
const ROWS_PER_DAY = 200;
const CALLS = 5;
const QUERY_CALLS = 200;

export interface ScaleFigure {
  partitions: number;
  rows: number;
  noopMaintainMs: number;
  noopSamples: number[];
  inspectMs: number;
  statusMs: number;
  /** What `pgparts status` reads: inspect with every partition's size, then status(); median. */
  statusWithSizesMs: number;
  /** os.loadavg() (1, 5, 15 min) when this size was measured: the machine is shared. */
  load: number[];
  queries: { name: string; prepared: Latency; literal: Latency }[];
  /**
   * Where the no-op's time can go, measured apart (ms, no pgparts code): every partition's size
   * (pg_total_relation_size), every bound (pg_get_expr) with its comment, and the planning time
   * of the hour-range query with its values inlined (EXPLAIN ANALYZE).
   */
  breakdown: { sizesMs: number; boundsMs: number; planningMs: number };
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

async function measure(url: string, sql: postgres.Sql, n: number): Promise<ScaleFigure> {
  const schema = `scale_${n}`;
  const family = eventsFamily({
    name: `scale_${n}`,
    schema,
    interval: 'day',
    premake: 3,
    past: n - 4,
  });
  await createEventsTable(sql, schema);
  await installFamily(sql, family);
  const [clock] = await sql<{ now: Date }[]>`SELECT now() AS now`;
  const today = intervalStart('day', new Date(clock?.now ?? Date.now()));
  const first = addIntervals('day', today, -(n - 4));
  const rows = (n - 4) * ROWS_PER_DAY;
  await fillEvents(sql, schema, first, today, rows);
  const table = quoteQualified(schema, 'events');
  await sql.unsafe(`VACUUM ANALYZE ${table}`);
  const partitions = await partitionCount(sql, schema, 'events');

  const pool = postgres(url, { max: 4, onnotice: () => {} });
  const db = drizzle(pool);
  try {
    await maintain(db, { families: [family] });
    const noopSamples: number[] = [];
    for (let i = 0; i < CALLS; i += 1) {
      noopSamples.push(
        Math.round((await timed(() => maintain(db, { families: [family] }))) * 10) / 10,
      );
    }
    const inspectMs: number[] = [];
    const statusMs: number[] = [];
    for (let i = 0; i < CALLS; i += 1) {
      let snapshot: Awaited<ReturnType<typeof inspect>> | null = null;
      inspectMs.push(
        await timed(async () => {
          snapshot = await inspect(db, [family]);
        }),
      );
      statusMs.push(
        await timed(async () => {
          status([family], snapshot as unknown as Awaited<ReturnType<typeof inspect>>);
        }),
      );
    }
    const statusWithSizesMs: number[] = [];
    for (let i = 0; i < CALLS; i += 1) {
      statusWithSizesMs.push(
        await timed(async () => status([family], await inspect(db, [family], { sizes: true }))),
      );
    }
    // Hot queries on one connection, on days spread over the whole range.
    const client = postgres(url, { max: 1, onnotice: () => {} });
    const days = Array.from({ length: QUERY_CALLS }, (_, i) =>
      addIntervals('day', first, (i * 7919) % (n - 4)),
    );
    const [ids] = await client.unsafe<{ min: string; max: string }[]>(
      `SELECT min(id) AS min, max(id) AS max FROM ${table}`,
    );
    const queries: ScaleFigure['queries'] = [];
    const range = `SELECT id, occurred_at, payload FROM ${table} WHERE occurred_at >= $1::timestamptz AND occurred_at < $1::timestamptz + interval '1 hour' ORDER BY occurred_at LIMIT 50`;
    const point = `SELECT id, occurred_at, payload FROM ${table} WHERE id = $1::bigint AND occurred_at >= $2::timestamptz AND occurred_at < $2::timestamptz + interval '1 day'`;
    const inline = (text: string, values: string[]) =>
      values.reduce((t, v, i) => t.replaceAll(`$${i + 1}`, `'${v}'`), text);
    const cases: { name: string; text: string; values: (i: number) => string[] }[] = [
      {
        name: 'one hour range, LIMIT 50',
        text: range,
        values: (i) => [(days[i] as Date).toISOString()],
      },
      {
        name: 'point lookup (id + its day)',
        text: point,
        values: (i) => {
          const lo = Number(ids?.min ?? 1);
          const span = Number(ids?.max ?? 1) - lo + 1;
          const id = lo + ((i * 104729) % span);
          const day = addIntervals('day', first, Math.floor(((id - lo) / span) * (n - 4)));
          return [String(id), day.toISOString()];
        },
      },
    ];
    for (const q of cases) {
      const prepared: number[] = [];
      const literal: number[] = [];
      for (let i = 0; i < 10; i += 1) await client.unsafe(q.text, q.values(i), { prepare: true });
      for (let i = 0; i < QUERY_CALLS; i += 1) {
        prepared.push(await timed(() => client.unsafe(q.text, q.values(i), { prepare: true })));
        literal.push(await timed(() => client.unsafe(inline(q.text, q.values(i)))));
      }
      queries.push({ name: q.name, prepared: latency(prepared), literal: latency(literal) });
    }
    const parent = `${quoteQualified(schema, 'events')}`;
    const sizesMs = await timed(() =>
      client.unsafe(
        `SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = $1::regclass`,
        [parent],
      ),
    );
    const boundsMs = await timed(() =>
      client.unsafe(
        `SELECT pg_get_expr(c.relpartbound, c.oid), obj_description(c.oid, 'pg_class')
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass`,
        [parent],
      ),
    );
    const explained = await client.unsafe<{ 'QUERY PLAN': string }[]>(
      `EXPLAIN (ANALYZE) ${inline(range, [(days[0] as Date).toISOString()])}`,
    );
    const planningLine = explained.find((r) => r['QUERY PLAN'].startsWith('Planning Time'));
    const planningMs = Number(
      /([\d.]+) ms/.exec(planningLine?.['QUERY PLAN'] ?? '')?.[1] ?? Number.NaN,
    );
    await client.end();
    return {
      breakdown: {
        sizesMs: Math.round(sizesMs * 10) / 10,
        boundsMs: Math.round(boundsMs * 10) / 10,
        planningMs,
      },
      partitions,
      rows,
      noopMaintainMs: median(noopSamples),
      noopSamples,
      inspectMs: median(inspectMs),
      statusMs: median(statusMs),
      statusWithSizesMs: median(statusWithSizesMs),
      load: loadavg().map((l) => Math.round(l * 100) / 100),
      queries,
    };
  } finally {
    await pool.end();
  }
}

export function renderScale(figures: ScaleFigure[], header: string): string {
  const at1000 = figures.find((f) => f.partitions >= 1000);
  const lines = [
    '# pgparts scale: costs by partitions per table',
    '',
    header,
    '',
    '| partitions | rows | no-op maintain() ms (median; samples) | inspect() ms | status() ms (pure) | `pgparts status` reads: inspect with sizes + status() ms | apart: all sizes / bounds+comments / planning the inlined hour query, ms | load average (1/5/15 min) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...figures.map(
      (f) =>
        `| ${f.partitions} | ${f.rows} | ${f.noopMaintainMs} (${f.noopSamples.join(', ')}) | ${Math.round(f.inspectMs * 10) / 10} | ${Math.round(f.statusMs * 100) / 100} | ${Math.round(f.statusWithSizesMs * 10) / 10} | ${f.breakdown.sizesMs} / ${f.breakdown.boundsMs} / ${f.breakdown.planningMs} | ${f.load.join(' / ')} |`,
    ),
    '',
    '| partitions | query | prepared p50 / p95 / p99 ms | values inlined p50 / p95 / p99 ms |',
    '| --- | --- | --- | --- |',
    ...figures.flatMap((f) =>
      f.queries.map(
        (q) =>
          `| ${f.partitions} | ${q.name} | ${q.prepared.p50.toFixed(2)} / ${q.prepared.p95.toFixed(2)} / ${q.prepared.p99.toFixed(2)} | ${q.literal.p50.toFixed(2)} / ${q.literal.p95.toFixed(2)} / ${q.literal.p99.toFixed(2)} |`,
      ),
    ),
    '',
    '## Target (issue 15)',
    '',
    '| figure | target | measured | met |',
    '| --- | --- | --- | --- |',
    `| no-op maintenance at 1,000 partitions per table | <= ${NOOP_TARGET_MS} ms | ${at1000 ? `${at1000.noopMaintainMs} ms` : 'n/a'} | ${at1000 ? (at1000.noopMaintainMs <= NOOP_TARGET_MS ? 'met' : '**not met**') : 'n/a'} |`,
    '',
  ];
  return lines.join('\n');
}

export async function runScale(options: {
  resultsDir: string;
  commit: string;
  jit: 'on' | 'off';
  header: (sql: postgres.Sql) => Promise<string>;
}) {
  const server = await step('start PostgreSQL', () =>
    startBenchServer('scale', false, options.jit),
  );
  const name = 'pgparts_bench_scale';
  try {
    await dropDatabase(server.adminUrl, name);
    await ensureDatabase(server.adminUrl, name);
    const url = withDatabase(server.adminUrl, name);
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    const figures: ScaleFigure[] = [];
    try {
      for (const n of PARTITION_COUNTS) {
        figures.push(await step(`scale: ${n} partitions`, () => measure(url, sql, n)));
      }
      const header = await options.header(sql);
      mkdirSync(options.resultsDir, { recursive: true });
      const files = [join(options.resultsDir, 'scale.json'), join(options.resultsDir, 'scale.md')];
      writeFileSync(
        files[0] as string,
        `${JSON.stringify({ finishedAt: new Date().toISOString(), commit: options.commit, settings: server.settings, figures }, null, 2)}\n`,
      );
      const markdown = renderScale(figures, header);
      writeFileSync(files[1] as string, markdown);
      console.log(`\n${markdown}`);
      return files;
    } finally {
      await sql.end();
    }
  } finally {
    await dropDatabase(server.adminUrl, name).catch(() => {});
    await server.stop();
  }
}
