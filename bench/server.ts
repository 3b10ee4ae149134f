import { resolve } from 'node:path';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startEmbeddedServer } from '../scripts/embedded-server.js';
import { quoteIdent } from '../src/sql/identifiers.js';

/**
 * Settings for the bench server on a 2-core, 24 GiB machine shared with other work. fsync,
 * synchronous_commit and full_page_writes are off: the data is generated and thrown away, and
 * durability costs are not what the bench measures. jit stays at PostgreSQL's default (on), as
 * an app's server has it, unless the run asks for `--jit off` (benchSettings). Reported with the
 * results.
 */
export const BENCH_SETTINGS: Record<string, string | number> = {
  shared_buffers: '4GB',
  effective_cache_size: '16GB',
  work_mem: '32MB',
  maintenance_work_mem: '1GB',
  max_wal_size: '2GB',
  checkpoint_timeout: '30min',
  random_page_cost: 1.1,
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_parallel_workers_per_gather: 2,
  max_connections: 50,
};

export interface BenchServer {
  adminUrl: string;
  /** Which settings are in effect: ours, or "as configured" for DATABASE_URL. */
  settings: Record<string, string | number> | 'server defaults (DATABASE_URL)';
  stop(): Promise<void>;
}

/** BENCH_SETTINGS, with jit off when the run asks for it (`--jit off`). */
export function benchSettings(jit: 'on' | 'off'): Record<string, string | number> {
  return jit === 'off' ? { ...BENCH_SETTINGS, jit: 'off' } : BENCH_SETTINGS;
}

export async function startBenchServer(
  label: string,
  keep: boolean,
  jit: 'on' | 'off' = 'on',
): Promise<BenchServer> {
  const external = process.env.DATABASE_URL;
  if (external) {
    return { adminUrl: external, settings: 'server defaults (DATABASE_URL)', stop: async () => {} };
  }
  const dataDir = keep ? resolve(import.meta.dirname, '..', '.pgparts', 'bench', label) : undefined;
  const server = await startEmbeddedServer({
    purpose: 'bench',
    settings: benchSettings(jit),
    log: (line) => console.error(line),
    ...(dataDir ? { dataDir } : {}),
  });
  return { adminUrl: server.url, settings: benchSettings(jit), stop: () => server.stop() };
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface Connection {
  sql: postgres.Sql;
  db: PostgresJsDatabase;
}

/**
 * A client on a database; `searchPath` points unqualified names at another schema first,
 * `genericPlans` starts its sessions with plan_cache_mode = force_generic_plan.
 */
export function connect(
  url: string,
  options: { max?: number; searchPath?: string; genericPlans?: boolean } = {},
) {
  const connection: Record<string, string> = {};
  if (options.searchPath) connection.search_path = options.searchPath;
  if (options.genericPlans) connection.plan_cache_mode = 'force_generic_plan';
  const sql = postgres(url, { max: options.max ?? 1, onnotice: () => {}, connection });
  return { sql, db: drizzle(sql) } satisfies Connection;
}

/** Creates the database unless it exists; true when it was created. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<boolean> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const found = await admin`SELECT 1 FROM pg_database WHERE datname = ${name}`;
    if (found.length > 0) return false;
    await admin.unsafe(`CREATE DATABASE ${quoteIdent(name)}`);
    return true;
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
