/**
 * `npx tsx bench/peer/trace.ts`: the statements of a no-op maintain() and of a retention run on
 * the peer bench's tables, counted as the client sent them and timed as the server saw them
 * (log_min_duration_statement = 0 on the bench's own scratch server). A profiling aid for the
 * fixed costs the side-by-side reports; no targets here.
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { maintain } from '../../src/index.js';
import { eventsFamily } from './pgparts-side.js';
import { logOffset, serverLines, startTraceDatabase } from './trace-database.js';

async function main() {
  const { server, url, setup, family } = await startTraceDatabase();
  try {
    const sent: string[] = [];
    let tracing = false;
    const pool = postgres(url, {
      max: 4,
      onnotice: () => {},
      debug: (_conn, query) => {
        if (tracing) sent.push(query.replace(/\s+/g, ' ').slice(0, 110));
      },
    });
    const db = drizzle(pool);
    await maintain(db, { families: [family] });
    await maintain(db, { families: [family] });
    await setup.unsafe('ALTER SYSTEM SET log_min_duration_statement = 0');
    await setup.unsafe('SELECT pg_reload_conf()');
    await new Promise((r) => setTimeout(r, 300));
    const kept = eventsFamily({ name: 'pp_events', schema: 'pp', keep: 5 });
    for (const [label, run] of [
      ['no-op', () => maintain(db, { families: [family] })],
      ['no-op', () => maintain(db, { families: [family] })],
      ['retention', () => maintain(db, { families: [kept], allowDestructive: true })],
      ['no-op after', () => maintain(db, { families: [kept], allowDestructive: true })],
    ] as const) {
      const from = logOffset();
      sent.length = 0;
      tracing = true;
      const started = performance.now();
      const result = await run();
      const ms = performance.now() - started;
      tracing = false;
      await new Promise((r) => setTimeout(r, 200));
      const lines = serverLines(from);
      const serverMs = lines.reduce((s, l) => s + l.ms, 0);
      console.log(
        `\n== ${label}: ${Math.round(ms)} ms client, ${sent.length} statements sent, server ${serverMs.toFixed(1)} ms; steps: ${result.results.map((r) => `${r.step.kind} ${Math.round(r.ms)} ms`).join(', ')}`,
      );
      for (const l of lines) console.log(`${l.ms.toFixed(2).padStart(8)}  ${l.text.slice(0, 110)}`);
    }
    await pool.end();
    await setup.end();
  } finally {
    await server.stop();
  }
}

await main();
