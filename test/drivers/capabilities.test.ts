import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import { drizzle as drizzlePostgresJs } from 'drizzle-orm/postgres-js';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { assertMultiSession, driverCapabilities } from '../../src/run/driver-capabilities.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';
import { expectPgpartsError, thrown } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

describe.each(driverFactories)('driverCapabilities through $name', (driver) => {
  const t = useDriverDatabase(driver, { migrated: false });

  it('names the driver and whether it holds two sessions at once', () => {
    expect(driverCapabilities(t.db)).toMatchObject({
      driver: driver.name,
      multiSession: driver.multiSession,
    });
  });

  it('treats a transaction as one session', async () => {
    const inside = await t.db.transaction(async (tx) => driverCapabilities(tx));
    expect(inside).toMatchObject({ driver: driver.name, multiSession: false, maxSessions: 1 });
  });

  it('lets an operation refuse a single-session database, saying why and what to do', () => {
    const check = () =>
      assertMultiSession(
        t.db,
        'watching the maintenance lock from a second session',
        'run it against a PostgreSQL server',
      );
    if (driver.multiSession) {
      expect(check().multiSession).toBe(true);
    } else {
      expectPgpartsError(thrown(check), 'unsupported-driver', {
        message:
          'pgparts: watching the maintenance lock from a second session needs two database sessions at once, ' +
          'but PGlite runs one in-process session (driver pglite); run it against a PostgreSQL server',
      });
    }
  });
});

describe('driverCapabilities of single-connection server clients', () => {
  const t = useTestDatabase({ migrated: false });
  const client = new pg.Client({ connectionString: t.url });
  afterAll(async () => {
    await client.end().catch(() => {});
  });

  it('sees a postgres.js pool of max: 1 and a pg Client as one session, a pg Pool as several', async () => {
    expect(driverCapabilities(drizzlePostgresJs(t.connect({ max: 1 })))).toEqual({
      driver: 'postgres-js',
      maxSessions: 1,
      multiSession: false,
      reason: 'the database is a pool of max: 1',
    });
    await client.connect();
    expect(driverCapabilities(drizzleNodePostgres(client))).toMatchObject({
      driver: 'node-postgres',
      multiSession: false,
      reason: 'the database is a single pg Client',
    });
    const pool = new pg.Pool({ connectionString: t.url, max: 3 });
    try {
      expect(driverCapabilities(drizzleNodePostgres(pool))).toEqual({
        driver: 'node-postgres',
        maxSessions: 3,
        multiSession: true,
      });
    } finally {
      await pool.end();
    }
  });
});
