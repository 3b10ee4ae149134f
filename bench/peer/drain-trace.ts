/**
 * `npx tsx bench/peer/drain-trace.ts [rows] [swap|delete]`: one drainKey on the peer bench's
 * tables (a month of `rows` rows in DEFAULT, two writers on), every statement timed as the
 * server saw it (log_min_duration_statement = 0 on the bench's own scratch PostgreSQL 15),
 * summed by kind. A profiling aid for the drain's time; no targets here.
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
  const { server, url, setup, family } = await startTraceDatabase();
  try {
    const now = new Date();
    const from = monthStart(now, -8);
    const to = monthStart(now, -7);
    await fillEvents(setup, 'pp', from, to, rows);
    await setup.unsafe('VACUUM ANALYZE pp.events_default');
    const pool = postgres(url, { max: 4, onnotice: () => {} });
    const db = drizzle(pool);
    const writers = await startWriters(url, [
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
    ]);
    await setup.unsafe('ALTER SYSTEM SET log_min_duration_statement = 0');
    await setup.unsafe('SELECT pg_reload_conf()');
    await new Promise((r) => setTimeout(r, 300));
    const start = logOffset();
    const started = performance.now();
    const result = await drainKey(db, family, { kind: 'range', from, to }, { strategy });
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
