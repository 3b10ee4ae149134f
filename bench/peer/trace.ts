/**
 * `npx tsx bench/peer/trace.ts`: the statements of a no-op maintain() and of a retention run on
 * the peer bench's tables, counted as the client sent them and timed as the server saw them
 * (log_min_duration_statement = 0 on the bench's own scratch server). A profiling aid for the
 * fixed costs the side-by-side reports; no targets here.
 */
import { Socket } from 'node:net';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { maintain } from '../../src/index.js';
import { eventsFamily } from './pgparts-side.js';
import { logOffset, serverLines, startTraceDatabase } from './trace-database.js';

/**
 * Round trips as the sockets saw them: a write to a connection that has had its replies since
 * its last write starts one (a write while replies are still awaited is pipelined).
 */
const roundTrips = { count: 0, on: false };
function countRoundTrips() {
  const awaiting = new WeakSet<Socket>();
  const write = Socket.prototype.write;
  const emit = Socket.prototype.emit;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    if (roundTrips.on && !awaiting.has(this)) roundTrips.count++;
    awaiting.add(this);
    return (write as (...a: unknown[]) => boolean).apply(this, args as never);
  } as typeof write;
  Socket.prototype.emit = function (this: Socket, event: string | symbol, ...args: unknown[]) {
    if (event === 'data') awaiting.delete(this);
    return (emit as (...a: unknown[]) => boolean).apply(this, [event, ...args]);
  } as typeof emit;
}

async function main() {
  countRoundTrips();
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
    // The second retention finds pgparts's bookkeeping tables made by the first: the steady state.
    const keptFewer = eventsFamily({ name: 'pp_events', schema: 'pp', keep: 4 });
    for (const [label, run] of [
      ['no-op', () => maintain(db, { families: [family] })],
      ['no-op', () => maintain(db, { families: [family] })],
      ['retention', () => maintain(db, { families: [kept], allowDestructive: true })],
      ['no-op after', () => maintain(db, { families: [kept], allowDestructive: true })],
      ['retention again', () => maintain(db, { families: [keptFewer], allowDestructive: true })],
    ] as const) {
      const from = logOffset();
      sent.length = 0;
      roundTrips.count = 0;
      tracing = true;
      roundTrips.on = true;
      const started = performance.now();
      const result = await run();
      const ms = performance.now() - started;
      tracing = false;
      roundTrips.on = false;
      await new Promise((r) => setTimeout(r, 200));
      const lines = serverLines(from);
      const serverMs = lines.reduce((s, l) => s + l.ms, 0);
      console.log(
        `\n== ${label}: ${Math.round(ms)} ms client, ${sent.length} statements sent in ${roundTrips.count} round trips, server ${serverMs.toFixed(1)} ms; steps: ${result.results.map((r) => `${r.step.kind} ${r.outcome} ${Math.round(r.ms)} ms${r.outcome === 'failed' ? ` (${r.message})` : ''}`).join(', ')}`,
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
