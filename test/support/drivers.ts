/**
 * One Drizzle database per driver pgparts supports, so a test body can run under each:
 *
 *   describe.each(driverFactories)('$name', (driver) => {
 *     const t = useDriverDatabase(driver);
 *     it('...', async () => { await someOperation(t.db); });
 *   });
 *
 * postgres.js and node-postgres get a fresh database on the test server (cloned from the
 * migrated template, or empty); PGlite gets an in-process instance with pg_trgm of its own,
 * started from a data directory saved once per worker.
 */
import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import postgres from 'postgres';
import { afterAll, beforeAll, inject } from 'vitest';
import type { AnyPgDatabase } from '../../src/run/database.js';
import type { DriverName } from '../../src/run/driver-capabilities.js';
import { createDatabase, dropDatabase } from './database-copy.js';
import { type PgliteImages, pgliteModules, sharedPgliteImages } from './pglite-images.js';
import { withDatabase } from './urls.js';

export interface DriverDatabase {
  db: AnyPgDatabase;
  /** The database's URL on the test server; undefined for PGlite (in-process, no server). */
  url: string | undefined;
  close(): Promise<void>;
}

export interface DriverFactory {
  name: Exclude<DriverName, 'unknown'>;
  /** Whether the driver can hold two sessions at once (PGlite cannot). */
  multiSession: boolean;
  open(options?: { migrated?: boolean }): Promise<DriverDatabase>;
}

const quiet = { onnotice: () => {} };

/** A database of its own on the test server; drop() removes it even with clients left open. */
async function serverDatabase(migrated: boolean) {
  const adminUrl = inject('adminUrl');
  const template = inject('templateDatabase');
  const name = `pgparts_d_${randomBytes(6).toString('hex')}`;
  await createDatabase(adminUrl, name, migrated ? template : undefined);
  return {
    url: withDatabase(adminUrl, name),
    drop: () => dropDatabase(adminUrl, name),
  };
}

// Creating a PGlite runs initdb in WebAssembly (several CPU-seconds), and migrating it costs more.
// The run builds both once (test/support/pglite-images.ts) and every PGlite handed out starts from
// one of the saved data directories: an instance of a test file's own, as fresh as a new one,
// for a fraction of the CPU. A worker runs many test files with the same modules
// (vitest.config.ts: isolate false), so it reads the images once.
let pgliteImages: Promise<PgliteImages> | undefined;

function images(): Promise<PgliteImages> {
  pgliteImages ??= sharedPgliteImages(inject('templateDatabase'));
  return pgliteImages;
}

async function newPglite(migrated: boolean): Promise<PGlite> {
  const image = await images();
  return PGlite.create({
    extensions: { pg_trgm },
    loadDataDir: migrated ? image.migrated : image.empty,
    ...(await pgliteModules()),
  });
}

export const postgresJsDriver: DriverFactory = {
  name: 'postgres-js',
  multiSession: true,
  async open({ migrated = true } = {}) {
    const database = await serverDatabase(migrated);
    const client = postgres(database.url, { max: 4, ...quiet });
    return {
      db: drizzlePostgresJs(client),
      url: database.url,
      async close() {
        await client.end({ timeout: 5 });
        await database.drop();
      },
    };
  },
};

export const nodePostgresDriver: DriverFactory = {
  name: 'node-postgres',
  multiSession: true,
  async open({ migrated = true } = {}) {
    const database = await serverDatabase(migrated);
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    // pool.end() resolves once it has asked each client to end, not once each has: the DROP
    // DATABASE ... WITH (FORCE) right after could end a backend first, and its client, out of
    // the pool by then and with no listener, threw 57P01 as an uncaught exception. close() waits
    // for each client's connection to end ('end') before the drop.
    const open = new Set<pg.PoolClient>();
    pool.on('connect', (client) => {
      open.add(client);
      client.once('end', () => open.delete(client));
    });
    return {
      db: drizzleNodePostgres(pool),
      url: database.url,
      async close() {
        const ended = [...open].map((client) => new Promise((done) => client.once('end', done)));
        await pool.end();
        await Promise.all(ended);
        await database.drop();
      },
    };
  },
};

export const pgliteDriver: DriverFactory = {
  name: 'pglite',
  multiSession: false,
  async open({ migrated = true } = {}) {
    const client = await newPglite(migrated);
    return { db: drizzlePglite(client), url: undefined, close: () => client.close() };
  },
};

export const driverFactories: readonly DriverFactory[] = [
  postgresJsDriver,
  nodePostgresDriver,
  pgliteDriver,
];

/**
 * Opens a database with `driver` before this describe block's tests and closes it after; read
 * `.db` inside tests.
 */
export function useDriverDatabase(
  driver: DriverFactory,
  options: { migrated?: boolean } = {},
): DriverDatabase {
  const handle = {} as DriverDatabase;
  beforeAll(async () => {
    Object.assign(handle, await driver.open(options));
  });
  afterAll(async () => {
    await handle.close?.();
  });
  return handle;
}
