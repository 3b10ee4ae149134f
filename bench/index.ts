/**
 * npm run bench: generates the data set, builds the unpartitioned twin, times every hot query on
 * both sides, the maintenance operations and the online conversion, and writes
 * bench/results/<scale>.{json,md,svg}. See README "Benchmarks".
 */
import { execSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type postgres from 'postgres';
import { migrate } from '../src/migrations/migrate.js';
import { BenchError } from './bench-error.js';
import { renderChart } from './chart.js';
import { runConversion } from './conversion.js';
import { generateAll } from './generate/index.js';
import { scaleFor } from './generate/scale.js';
import { indexReplacement } from './index-replacement.js';
import { describeMachine } from './machine.js';
import { removeDrainSeasons, runMaintenance } from './maintenance.js';
import { parseBenchOptions } from './options.js';
import { sampleParams } from './params.js';
import { runPeer } from './peer/index.js';
import { step } from './progress.js';
import { QUERIES } from './queries.js';
import { type BenchReport, type Section, writeReport } from './report.js';
import { runQueries } from './run-queries.js';
import { runScale } from './scale/index.js';
import { connect, dropDatabase, ensureDatabase, startBenchServer, withDatabase } from './server.js';
import { buildTwin, compareCounts, syncTwin, TWIN_SCHEMA } from './twin.js';

const RESULTS_DIR = resolve(import.meta.dirname, 'results');
const CONVERSION_RUNS = 1_000_000;

function commit(): string {
  try {
    const head = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
    const dirty = execSync('git status --porcelain -- src', { encoding: 'utf8' }).trim();
    return dirty ? `${head}, src with uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

/** The data clock of a kept, complete data set, or null when it must be (re)generated. */
async function readyData(sql: postgres.Sql, killmails: number): Promise<Date | null> {
  const [row] = await sql<{ value: { killmails: number; now: string } }[]>`
    SELECT value FROM bench.meta WHERE key = 'data'`.catch(() => []);
  return row && row.value.killmails === killmails ? new Date(row.value.now) : null;
}

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv.slice(2));
  // Sections with their own server and data: the side-by-side with pg_partman, the scale curve.
  if (options.peer) {
    const files = await runPeer({
      rows: options.peerRows,
      label: options.peerLabel,
      resultsDir: RESULTS_DIR,
      commit: commit(),
    });
    for (const file of files) console.log(`wrote ${file}`);
    return;
  }
  if (options.only === 'scale') {
    const files = await runScale({
      resultsDir: RESULTS_DIR,
      commit: commit(),
      jit: options.jit,
      header: async (sql) => {
        const m = await describeMachine(sql);
        const l = loadavg().map((v) => v.toFixed(2));
        return `${new Date().toISOString()} (commit ${commit()}). PostgreSQL ${m.postgres} (embedded, the bench settings: jit ${options.jit}), Node ${m.node}, ${m.cores} cores (${m.cpu}). Load average after: ${l.join(' / ')}. A daily family, one table + DEFAULT, 200 rows a day; ${'maintain()'} median of 5 after one that settles; 200 calls per query and form.`;
      },
    });
    for (const file of files) console.log(`wrote ${file}`);
    return;
  }
  const scale = scaleFor(options.killmails);
  const startedAt = new Date().toISOString();
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = Math.round(performance.now() - started);
    }
  };
  const server = await step('start PostgreSQL', () =>
    startBenchServer(options.label, options.keep, options.jit),
  );
  const dbName = `pgparts_bench_${options.label.replace(/[^a-z0-9]/g, '_')}`;
  const convertName = `${dbName}_convert`;
  const clients: postgres.Sql[] = [];
  try {
    const url = withDatabase(server.adminUrl, dbName);
    await ensureDatabase(server.adminUrl, dbName);
    let main = connect(url, { max: 1 });
    clients.push(main.sql);
    let dataNow = options.keep ? await readyData(main.sql, scale.killmails) : null;
    if (!dataNow) {
      await main.sql.end();
      await dropDatabase(server.adminUrl, dbName);
      await ensureDatabase(server.adminUrl, dbName);
      main = connect(url, { max: 1 });
      clients.push(main.sql);
      const now = new Date();
      const m = main;
      await timed('generate', () => generateAll(m.sql, m.db, scale, now));
      await timed('twin', () => buildTwin(m.sql));
      await timed('vacuum analyze', () =>
        step('VACUUM (ANALYZE)', () => m.sql.unsafe('VACUUM (ANALYZE)')),
      );
      await main.sql`CREATE SCHEMA IF NOT EXISTS bench`;
      await main.sql`CREATE TABLE IF NOT EXISTS bench.meta (key text PRIMARY KEY, value jsonb NOT NULL)`;
      await main.sql`INSERT INTO bench.meta VALUES ('data', ${JSON.stringify({ killmails: scale.killmails, now: now.toISOString() })}::jsonb)
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
      dataNow = now;
    } else {
      console.log(`reusing the kept data set (data clock ${dataNow.toISOString()})`);
      // Migrations written since the data was generated (new indexes) apply to it first.
      const m = main;
      await step('migrate the kept data set', () => migrate(m.db));
      await step('remove seasons left by an earlier drain measurement', () =>
        removeDrainSeasons(m.sql, m.db, scale),
      );
      const synced = await step('twin indexes and statistics targets equal to the parents', () =>
        syncTwin(m.sql),
      );
      if (synced.length > 0) {
        console.log(`  twin: ${synced.join(', ')}`);
        await step('ANALYZE', () => m.sql.unsafe('ANALYZE'));
      }
    }
    const rows = await compareCounts(main.sql);
    const unequal = Object.entries(rows).filter(([, [a, b]]) => a !== b);
    if (unequal.length > 0) throw new BenchError(`bench: twin differs: ${JSON.stringify(unequal)}`);
    const machine = await describeMachine(main.sql);
    const notes: string[] = [];

    let queries: BenchReport['queries'] = null;
    let genericQueries: BenchReport['genericQueries'] = null;
    if (options.only === 'all' || options.only === 'queries') {
      const params = await step('sample parameters', () => sampleParams(main.sql, dataNow));
      const loadBefore = loadavg().map((v) => v.toFixed(2));
      const sides = (genericPlans: boolean) => {
        const partitioned = connect(url, { max: 1, genericPlans });
        const twin = connect(url, { max: 1, searchPath: `${TWIN_SCHEMA}, public`, genericPlans });
        clients.push(partitioned.sql, twin.sql);
        return { partitioned: partitioned.db, unpartitioned: twin.db };
      };
      if (options.plans !== 'generic') {
        queries = await timed('queries', () =>
          runQueries(QUERIES, sides(false), params, options.iterations),
        );
      }
      if (options.plans !== 'custom') {
        genericQueries = await timed('queries, generic plans', () =>
          runQueries(
            QUERIES,
            sides(true),
            params,
            options.iterations,
            { prepare: true },
            'hot queries, prepared, generic plans',
          ),
        );
      }
      notes.push(
        `Load average (1/5/15 min) before the query phase ${loadBefore.join(' / ')}, after ${loadavg()
          .map((v) => v.toFixed(2))
          .join(' / ')} on ${cpus().length} cores (other work shares the machine).`,
      );
      const mismatched = [...(queries ?? []), ...(genericQueries ?? [])].filter(
        (q) => q.rowMismatches > 0,
      );
      if (mismatched.length > 0) {
        notes.push(
          `Row counts differed between the sides for: ${mismatched.map((q) => `${q.name} (${q.rowMismatches} calls)`).join(', ')}.`,
        );
      }
    }

    const measuredHere: NonNullable<BenchReport['measured']> = {};
    const measure = (section: Section) => {
      measuredHere[section] = {
        at: new Date().toISOString(),
        commit: commit(),
        killmails: rows.killmails_raw?.[0] ?? 0,
        jit: jitSetting(server.settings),
      };
    };
    const save = (partial: Pick<BenchReport, 'maintenance' | 'conversion'>) => {
      const report: BenchReport = {
        label: options.label,
        startedAt,
        finishedAt: new Date().toISOString(),
        commit: commit(),
        machine,
        settings: server.settings,
        scale,
        rows,
        dataNow: (dataNow as Date).toISOString(),
        iterations: options.iterations,
        timings,
        queries,
        genericQueries,
        ...partial,
        measured: { ...measuredHere },
        notes: [...notes],
      };
      mergePrevious(report);
      const svg = report.queries
        ? renderChart(`pgparts: p95 per hot query, ${options.label} killmails`, report.queries)
        : null;
      return writeReport(RESULTS_DIR, report, svg);
    };
    if (queries || genericQueries) {
      measure('queries');
      save({ maintenance: null, conversion: null });
    }

    let maintenance: BenchReport['maintenance'] = null;
    let conversion: BenchReport['conversion'] = null;
    if (options.only === 'all' || options.only === 'maintenance') {
      const m = main;
      const watcher = connect(url, { max: 1 }).sql;
      clients.push(watcher);
      maintenance = await timed('maintenance', () => runMaintenance(m.sql, m.db, scale, watcher));
      maintenance.indexReplacement = await timed('index replacement', () =>
        indexReplacement(url, m.sql),
      );
      measure('maintenance');
      save({ maintenance, conversion: null });
    }
    if (options.only === 'all' || options.only === 'conversion') {
      // The legacy leaderboard is capped at 1M runs, the size the 1m scale already converts:
      // larger scales would repeat the same 20-minute measurement.
      if (scale.killmails > 1_000_000) {
        notes.push(
          `Conversion not repeated: its legacy leaderboard is capped at ${CONVERSION_RUNS} runs, the size the 1m run converts (bench/results/1m.md).`,
        );
      } else {
        await dropDatabase(server.adminUrl, convertName);
        await ensureDatabase(server.adminUrl, convertName);
        const conv = connect(withDatabase(server.adminUrl, convertName), { max: 4 });
        clients.push(conv.sql);
        conversion = await timed('conversion', () =>
          runConversion(conv.sql, conv.db, Math.min(CONVERSION_RUNS, scale.runs * 5)),
        ).catch((error: unknown) => {
          notes.push(`The conversion failed: ${String(error).slice(0, 300)}`);
          return null;
        });
        if (conversion) measure('conversion');
        await conv.sql.end();
        if (!options.keep) await dropDatabase(server.adminUrl, convertName);
      }
    }

    for (const file of save({ maintenance, conversion })) console.log(`wrote ${file}`);
  } finally {
    await Promise.all(clients.map((c) => c.end({ timeout: 5 }).catch(() => {})));
    if (!options.keep && process.env.DATABASE_URL) {
      await dropDatabase(server.adminUrl, dbName).catch(() => {});
    }
    await server.stop();
  }
}

/**
 * The server's jit as a run's settings give it. A section measured before the runs recorded it
 * had jit off: the bench's settings had it off until --jit.
 */
function jitSetting(settings: BenchReport['settings']): string {
  return typeof settings === 'string' ? 'as the server has it' : String(settings.jit ?? 'on');
}

/** A partial run (--only) keeps the other sections of the previous results for the scale. */
function mergePrevious(report: BenchReport): void {
  const file = join(RESULTS_DIR, `${report.label}.json`);
  if (!existsSync(file)) return;
  const previous = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  const names: Record<Section, string> = {
    queries: 'Hot query',
    maintenance: 'Maintenance',
    conversion: 'Conversion',
  };
  // Generic-plan figures belong to the query section: kept with it when it was not run.
  if (!report.queries && !report.genericQueries && previous.genericQueries) {
    report.genericQueries = previous.genericQueries;
  }
  for (const section of Object.keys(names) as Section[]) {
    if (report[section] || !previous[section]) continue;
    (report as unknown as Record<Section, unknown>)[section] = previous[section];
    const when = previous.measured?.[section];
    report.measured = { ...report.measured, ...(when ? { [section]: when } : {}) };
    report.notes.push(
      when
        ? `${names[section]} figures kept from an earlier run: measured ${when.at} (commit ${when.commit}) on ${when.killmails.toLocaleString('en-US')} killmails, jit ${when.jit ?? 'off'}.`
        : `${names[section]} figures kept from the run of ${previous.finishedAt}.`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
