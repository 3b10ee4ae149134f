/**
 * One Drizzle database per driver pgparts supports, so a test body can run under each:
 *
 *   describe.each(driverFactories)('$name', (driver) => {
 *     const t = useDriverDatabase(driver);
 *     it('...', async () => { await someOperation(t.db); });
 *   });
 *
 * postgres.js and node-postgres get a fresh database on the test server (cloned from the
 * migrated template, or empty); PGlite gets an in-process instance with pg_trgm, one per test
 * file.
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
import { migrate } from '../../src/migrations/migrate.js';
import type { AnyPgDatabase } from '../../src/run/database.js';
import type { DriverName } from '../../src/run/driver-capabilities.js';
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
  const admin = postgres(adminUrl, { max: 1, ...quiet });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"${migrated ? ` TEMPLATE "${template}"` : ''}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(adminUrl, name),
    async drop() {
      const cleanup = postgres(adminUrl, { max: 1, ...quiet });
      try {
        await cleanup.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

// Creating and migrating a PGlite takes seconds (a clone is a dump and a restore): a test file
// gets one migrated instance, the first suite that asks uses it as is, and only a second suite
// in the same file gets a clone of it.
let pgliteTemplate: Promise<PGlite> | undefined;
let templateInUse = false;

async function newPglite(migrated: boolean): Promise<{ client: PGlite; close(): Promise<void> }> {
  if (!migrated) {
    const client = await PGlite.create({ extensions: { pg_trgm } });
    return { client, close: () => client.close() };
  }
  pgliteTemplate ??= (async () => {
    const template = await PGlite.create({ extensions: { pg_trgm } });
    await migrate(drizzlePglite(template));
    return template;
  })();
  const template = await pgliteTemplate;
  if (!templateInUse) {
    templateInUse = true;
    return {
      client: template,
      async close() {
        // Closed with its user; a later suite of the file migrates a new one.
        pgliteTemplate = undefined;
        templateInUse = false;
        await template.close();
      },
    };
  }
  // clone() is typed as the interface; it returns a PGlite, which drizzle-orm/pglite wants.
  const client = (await template.clone()) as PGlite;
  return { client, close: () => client.close() };
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
    return {
      db: drizzleNodePostgres(pool),
      url: database.url,
      async close() {
        await pool.end();
        await database.drop();
      },
    };
  },
};

export const pgliteDriver: DriverFactory = {
  name: 'pglite',
  multiSession: false,
  async open({ migrated = true } = {}) {
    const instance = await newPglite(migrated);
    return { db: drizzlePglite(instance.client), url: undefined, close: instance.close };
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
