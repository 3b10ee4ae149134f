/**
 * `npm run bench -- --peer pg_partman [--peer-rows 1m]`: pgparts side by side with pg_partman on
 * the distribution's PostgreSQL 15, writes bench/results/peer-pg_partman-<rows>.{json,md}. See
 * docs/benchmark-pg-partman.md.
 */
import { loadavg } from 'node:os';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { quoteIdent } from '../../src/sql/identifiers.js';
import { describeMachine } from '../machine.js';
import { step } from '../progress.js';
import * as cases from './cases.js';
import { installPartman } from './partman.js';
import { renderPeerMarkdown, writePeerReport } from './report.js';
import { startSystemServer } from './system-server.js';
import type { PeerCase, PeerReport } from './types.js';

export const PEER_MAJOR = 15;
const DATABASE = 'pgparts_peer';

const SETTINGS = [
  'jit',
  'jit_above_cost',
  'shared_buffers',
  'work_mem',
  'maintenance_work_mem',
  'effective_cache_size',
  'max_wal_size',
  'random_page_cost',
  'fsync',
  'synchronous_commit',
  'max_parallel_workers_per_gather',
  'lock_timeout',
  'statement_timeout',
  'TimeZone',
];

const load = () => loadavg().map((v) => Math.round(v * 100) / 100);

export async function runPeer(options: {
  rows: number;
  label: string;
  resultsDir: string;
  commit: string;
}): Promise<string[]> {
  const startedAt = new Date().toISOString();
  const loadBefore = load();
  const server = await step(`start PostgreSQL ${PEER_MAJOR} (system)`, () =>
    startSystemServer(PEER_MAJOR),
  );
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  const clients: postgres.Sql[] = [admin];
  try {
    await admin.unsafe(`CREATE DATABASE ${quoteIdent(DATABASE)}`);
    // Months are UTC months on both sides: pgparts computes bounds in UTC, pg_partman in the
    // session's TimeZone.
    await admin.unsafe(`ALTER DATABASE ${quoteIdent(DATABASE)} SET TimeZone = 'UTC'`);
    const url = new URL(server.url);
    url.pathname = `/${DATABASE}`;
    const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const pool = postgres(url.toString(), { max: 4, onnotice: () => {} });
    const maintenance = postgres(url.toString(), { max: 1, onnotice: () => {} });
    clients.push(sql, pool, maintenance);
    const partmanVersion = await installPartman(sql);
    const settings: Record<string, string> = {};
    for (const row of await sql<{ name: string; setting: string; unit: string | null }[]>`
      SELECT name, setting, unit FROM pg_settings WHERE name = ANY(${SETTINGS})`) {
      settings[row.name] = `${row.setting}${row.unit ? ` (${row.unit})` : ''}`;
    }
    const [clock] = await sql<{ now: Date }[]>`SELECT now() AS now`;
    const ctx: cases.PeerContext = {
      url: url.toString(),
      database: DATABASE,
      sql,
      db: drizzle(pool),
      maintenanceDb: drizzle(maintenance),
      rows: options.rows,
      now: new Date(clock?.now ?? Date.now()),
      notes: [],
    };
    const done: PeerCase[] = [];
    const report = (): PeerReport => ({
      label: options.label,
      rows: options.rows,
      startedAt,
      finishedAt: new Date().toISOString(),
      commit: options.commit,
      machine,
      partmanVersion,
      settings,
      loadAverage: { before: loadBefore, after: load() },
      cases: [...done],
      notes: [
        'Writers: two per case on the side measured, each its own connection, one INSERT every 5 ms: one into a month with no partition (its rows go to DEFAULT), one into the current month. "max" is the longest INSERT as the writer saw it (wall time); "lock wait" the longest wait for a lock that pg_locks showed for that writer (waitstart, sampled every 10 ms on a third connection: a lower bound). For a lock wait of 20 ms or more, the cell names whom it was behind (pg_blocking_pids at the sample of the longest wait, and whom that one was behind in turn). The targets judge the lock wait (measured by the server); the latency also holds CPU waits on a loaded machine.',
        'Alternation: every case runs pg_partman, then pgparts, on the same server and data shape; the no-op cases time 15 calls per tool after one that settles and report the median.',
        "Connections: the no-op and retention cases give each tool one connection of its own, used for all its calls (pg_partman's calls and the setup share one; pgparts's maintain gets another, max 1). Results before 2026-12-02 gave pgparts a pool of 4, which postgres.js hands out in turn: its first calls landed on connections that had not planned its statements yet while pg_partman's one connection had, which cost pgparts 8-25 ms per new connection in the retention case's 3 calls. The next-month case gives each tool a new connection (as a cron job has); the drains give pgparts the pool of 4.",
        ...ctx.notes,
      ],
    });
    const machine = await describeMachine(sql);
    const save = () => writePeerReport(options.resultsDir, report());
    const family = await step('set up both sides', () => cases.setupMain(ctx));
    done.push(await step('no-op, empty DEFAULT', () => cases.noopEmpty(ctx, family)));
    save();
    const stray = await step('stray rows into DEFAULT', () => cases.addStrayRows(ctx));
    ctx.notes.push(`Stray rows: ${stray} in a month a year back (no partition) in each DEFAULT.`);
    done.push(await step('no-op, rows in DEFAULT', () => cases.noopDefault(ctx, family)));
    done.push(await step('create the next month', () => cases.createNext(ctx, family)));
    done.push(await step('retention of a month', () => cases.retention(ctx)));
    save();
    await step('remove the stray rows', () => cases.removeStrayRows(ctx));
    done.push(await cases.drains(ctx, family));
    save();
    done.push(await step('no-op, 6 tables', () => cases.noopSix(ctx)));
    done.push(await step('foreign key family', () => cases.foreignKey(ctx)));
    // The summary and the targets on the terminal; every figure is in the files.
    console.log(`\n${renderPeerMarkdown(report()).split('## Cases')[0]}`);
    return save();
  } finally {
    await Promise.all(clients.map((c) => c.end({ timeout: 5 }).catch(() => {})));
    await server.stop();
  }
}
