/**
 * What the trace scripts (trace.ts, drain-trace.ts) share: the bench's scratch PostgreSQL 15
 * with a `pgparts_trace` database holding the peer bench's pgparts table and family, and the
 * server log's statement durations (log_min_duration_statement = 0) read back from an offset.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import postgres from 'postgres';
import type { FamilySpec } from '../../src/index.js';
import { withDatabase } from '../server.js';
import { eventsFamily, installFamily } from './pgparts-side.js';
import { type SystemServer, startSystemServer } from './system-server.js';
import { createEventsTable } from './tables.js';

const LOG = resolve(import.meta.dirname, '..', '..', '.pgparts', 'peer', 'server.log');

/** Where the server log ends now: pass it to serverLines after the traced work. */
export function logOffset(): number {
  return readFileSync(LOG, 'utf8').length;
}

/** The statements the server logged since `from`, with their durations (ms), text on one line. */
export function serverLines(from: number): { text: string; ms: number }[] {
  const log = readFileSync(LOG, 'utf8').slice(from);
  const out: { text: string; ms: number }[] = [];
  for (const m of log.matchAll(/duration: ([\d.]+) ms\s+(\S+[^\n]*(?:\n\t[^\n]*)*)/g)) {
    out.push({ ms: Number(m[1]), text: (m[2] ?? '').replace(/\s+/g, ' ') });
  }
  return out;
}

export interface TraceDatabase {
  server: SystemServer;
  url: string;
  /** One connection for setting up and reading. */
  setup: postgres.Sql;
  /** pp.events, monthly with DEFAULT, six months back. */
  family: FamilySpec;
}

/** Starts the server and makes the database, its table and family; stop the server at the end. */
export async function startTraceDatabase(): Promise<TraceDatabase> {
  const server = await startSystemServer(15);
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  await admin.unsafe('CREATE DATABASE pgparts_trace');
  await admin.unsafe(`ALTER DATABASE pgparts_trace SET "TimeZone" = 'UTC'`);
  await admin.end();
  const url = withDatabase(server.url, 'pgparts_trace');
  const setup = postgres(url, { max: 1, onnotice: () => {} });
  await createEventsTable(setup, 'pp');
  const family = eventsFamily({ name: 'pp_events', schema: 'pp', past: 6 });
  await installFamily(setup, family);
  return { server, url, setup, family };
}
