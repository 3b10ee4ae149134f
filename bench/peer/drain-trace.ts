/**
 * `npx tsx bench/peer/drain-trace.ts [rows] [swap|delete]`: one drainKey on the peer bench's
 * tables (a month of `rows` rows in DEFAULT, two writers on), every statement timed as the
 * server saw it (log_min_duration_statement = 0 on the bench's own scratch PostgreSQL 15),
 * summed by kind. A profiling aid for the drain's time; no targets here. UNTRACED=1 times it
 * without the statement log (whose writing slows the server), SIDE_BY_SIDE=0 runs it on one
 * connection, BATCH_PAGES=n sets its copy batches, MAINTENANCE_WORK_MEM=256MB its index builds'
 * memory, NO_WRITERS=1 leaves the writers out, WARM=1 drains another month first on the
 * same pool (its connections warm, as the bench's are).
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { drainKey } from '../../src/index.js';
import { fillEvents } from './tables.js';
import { logOffset, serverLines, startTraceDatabase } from './trace-database.js';
import { startWriters } from './writers.js';

const monthStart = (now: Date, k: number) =>
  new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + k, 1));

async function main() {
  const rows = Number(process.argv[2] ?? 100_000);
  const strategy = (process.argv[3] ?? 'swap') as 'swap' | 'delete';
  const untraced = process.env.UNTRACED === '1';
  const { server, url, setup, family } = await startTraceDatabase();
  try {
    const now = new Date();
    const from = monthStart(now, -8);
    const to = monthStart(now, -7);
    await fillEvents(setup, 'pp', from, to, rows);
    await setup.unsafe('VACUUM ANALYZE pp.events_default');
    if (process.env.CHECKPOINT_FIRST === '1') await setup.unsafe('CHECKPOINT');
    // SENDS=1: each statement the drain sends until its copy starts, ms from the start.
    const sends: string[] = [];
    let sendsFrom = 0;
    const pool = postgres(url, {
      max: 4,
      onnotice: () => {},
      ...(process.env.SENDS === '1'
        ? {
            debug: (connection: number, query: string) => {
              if (sendsFrom > 0 && sends.length < 1000)
                sends.push(
                  `${(performance.now() - sendsFrom).toFixed(1).padStart(7)} c${connection} ${query.replace(/\s+/g, ' ').slice(0, 110)}`,
                );
            },
          }
        : {}),
    });
    const db = drizzle(pool);
    if (process.env.WARM === '1') {
      // A drain of another month first, on the same pool: its connections have then touched
      // the server's shared memory once (a process's first touch of a page faults), as the
      // bench's pool has after its earlier cases.
      const warmFrom = monthStart(now, -10);
      const warmTo = monthStart(now, -9);
      await fillEvents(setup, 'pp', warmFrom, warmTo, rows);
      await setup.unsafe('VACUUM ANALYZE pp.events_default');
      await drainKey(db, family, { kind: 'range', from: warmFrom, to: warmTo }, { strategy });
      await setup.unsafe('VACUUM ANALYZE pp.events_default');
    }
    const writers = await startWriters(
      url,
      process.env.NO_WRITERS === '1'
        ? []
        : [
            {
              name: 'DEFAULT writer',
              schema: 'pp',
              table: 'events',
              sequence: 'events_id_seq',
              from: monthStart(now, -7),
              to: monthStart(now, -6),
            },
            {
              name: 'existing-month writer',
              schema: 'pp',
              table: 'events',
              sequence: 'events_id_seq',
              from: monthStart(now, 0),
              to: monthStart(now, 1),
            },
          ],
    );
    if (!untraced) {
      await setup.unsafe('ALTER SYSTEM SET log_min_duration_statement = 0');
      await setup.unsafe('SELECT pg_reload_conf()');
      await new Promise((r) => setTimeout(r, 300));
    }
    const start = logOffset();
    const phases: string[] = [];
    const started = performance.now();
    sendsFrom = started;
    const result = await drainKey(
      db,
      family,
      { kind: 'range', from, to },
      {
        strategy,
        onPhase: (phase) => {
          phases.push(`${phase} ${Math.round(performance.now() - started)}`);
        },
        ...(process.env.SIDE_BY_SIDE === '0' ? { sideBySide: false } : {}),
        ...(process.env.BATCH_PAGES ? { batchPages: Number(process.env.BATCH_PAGES) } : {}),
        ...(process.env.MAINTENANCE_WORK_MEM
          ? { maintenanceWorkMem: process.env.MAINTENANCE_WORK_MEM }
          : {}),
      },
    );
    const ms = performance.now() - started;
    await setup.unsafe('ALTER SYSTEM RESET log_min_duration_statement');
    await setup.unsafe('SELECT pg_reload_conf()');
    const figures = await writers.stop();
    await new Promise((r) => setTimeout(r, 300));
    const lines = serverLines(start).filter((l) => !/INSERT INTO "pp"."events" \(id/.test(l.text));
    const serverMs = lines.reduce((s, l) => s + l.ms, 0);
    console.log(
      `drainKey(${strategy}) ${rows} rows: ${Math.round(ms)} ms client, server ${serverMs.toFixed(0)} ms over ${lines.length} statements; moved ${result.rowsMoved}, lock hold ${Math.round(result.maxLockHoldMs)} ms`,
    );
    console.log(`phases (ms from the start): ${phases.join(', ')}`);
    if (sends.length > 0)
      console.log(sends.filter((l) => !l.includes('INSERT INTO "pp"."events" (')).join('\n'));
    console.log(
      figures
        .map((f) => `${f.name}: lock wait ${f.maxLockWaitMs} ms, errors ${f.errors}`)
        .join('; '),
    );
    const kinds = new Map<string, { n: number; ms: number }>();
    for (const l of lines) {
      const kind = l.text.replace(/^(parse|bind|execute) \S+: /, '$1: ').slice(0, 60);
      const k = kinds.get(kind) ?? { n: 0, ms: 0 };
      kinds.set(kind, { n: k.n + 1, ms: k.ms + l.ms });
    }
    console.log('by kind (count, ms):');
    for (const [kind, k] of [...kinds].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25))
      console.log(`${String(k.n).padStart(5)} ${k.ms.toFixed(1).padStart(9)}  ${kind}`);
    for (const l of lines.filter((l) => l.ms >= Number(process.env.TRACE_MIN_MS ?? 2)))
      console.log(`${l.ms.toFixed(1).padStart(9)}  ${l.text.slice(0, 150)}`);
    await pool.end();
    await setup.end();
  } finally {
    await server.stop();
  }
}

await main();
