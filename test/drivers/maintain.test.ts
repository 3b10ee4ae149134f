import { sql } from 'drizzle-orm';
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ensureSeasonPartitions } from '../../src/domains/leaderboard/seasons.js';
import { season } from '../../src/domains/leaderboard/tables.js';
import { builtInFamilies, killmailFamily } from '../../src/domains/presets.js';
import { MAINTENANCE_LOCK_KEY } from '../../src/run/advisory-lock.js';
import { maintain } from '../../src/run/maintain.js';
import { rowsOf } from '../../src/run/rows.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';
import { useTestDatabase } from '../support/test-database.js';

describe.each(driverFactories)('plan/apply through $name', (driver) => {
  const t = useDriverDatabase(driver);

  const partitionsOf = async (parent: string) =>
    rowsOf<{ name: string }>(
      await t.db.execute(sql`SELECT c.relname AS name FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = ${parent}::regclass ORDER BY 1`),
    ).map((r) => r.name);

  const advisoryLocksHeld = async () =>
    Number(
      rowsOf<{ n: number | string }>(
        // pg_locks is cluster-wide: other test files hold the same key in their own databases.
        await t.db.execute(sql`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid = ${MAINTENANCE_LOCK_KEY[0]} AND objid = ${MAINTENANCE_LOCK_KEY[1]}`),
      )[0]?.n,
    );

  it('creates the partitions of a new season, under the maintenance lock, and releases it', async () => {
    await t.db.insert(season).values({ id: 7, name: 'Season 7' });
    let heldDuring = -1;
    const result = await ensureSeasonPartitions(t.db, {
      onProgress: async (event) => {
        if (event.type === 'lock-acquired') heldDuring = await advisoryLocksHeld();
      },
    });
    expect(heldDuring).toBe(1);
    expect(result).toMatchObject({ status: 'applied', ok: true, failed: 0 });
    expect(result.results.map((r) => `${r.outcome} ${r.step.partitions.join()}`)).toEqual([
      'done leaderboard_run_s7',
      'done run_group_member_s7',
    ]);
    expect(await partitionsOf('leaderboard_run')).toEqual([
      'leaderboard_run_default',
      'leaderboard_run_s7',
    ]);
    expect(await partitionsOf('run_group_member')).toEqual([
      'run_group_member_default',
      'run_group_member_s7',
    ]);
    expect(await advisoryLocksHeld()).toBe(0);
  });

  it('plans nothing to create on a second run, whatever the driver pinned', async () => {
    const result = await maintain(t.db, { families: builtInFamilies });
    expect(result).toMatchObject({ status: 'applied', ok: true, failed: 0 });
    expect(result.results.filter((r) => r.step.kind === 'create')).toEqual([]);
    expect(await advisoryLocksHeld()).toBe(0);
  });

  it('a second maintain() while one holds the lock: locked, nothing done, nothing fails', async () => {
    await t.db.insert(season).values({ id: 8, name: 'Season 8' });
    const second: Array<Awaited<ReturnType<typeof maintain>>> = [];
    // Started once the first surely holds the lock (its progress is awaited before it goes on).
    const first = await maintain(t.db, {
      families: builtInFamilies,
      onProgress: async (event) => {
        if (event.type === 'lock-acquired') {
          second.push(await maintain(t.db, { families: builtInFamilies }));
        }
      },
    });
    expect(first).toMatchObject({ status: 'applied', ok: true, failed: 0 });
    expect(first.results.map((r) => `${r.outcome} ${r.step.partitions.join()}`)).toEqual([
      'done leaderboard_run_s8',
      'done run_group_member_s8',
    ]);
    expect(second).toHaveLength(1);
    expect(second[0]).toMatchObject({
      status: 'locked',
      ok: true,
      plan: null,
      results: [],
      lockHolderPid: first.lockHolderPid,
    });
    expect(await partitionsOf('leaderboard_run')).toContain('leaderboard_run_s8');
    expect(await advisoryLocksHeld()).toBe(0);
    // And the connection is fine for the next run.
    expect(await maintain(t.db, { families: builtInFamilies })).toMatchObject({
      status: 'applied',
      done: 0,
      failed: 0,
    });
  });
});

describe.each(driverFactories)(
  'ensureSeasonPartitions while a run holds the lock, $name',
  (driver) => {
    const t = useDriverDatabase(driver);

    it('waits for that run, then creates the new season; with waitForLockMs 0 it says locked', async () => {
      let busy: { holderPid: number | null } | undefined;
      let ensured: Promise<Awaited<ReturnType<typeof ensureSeasonPartitions>>> | undefined;
      let atOnce: Awaited<ReturnType<typeof ensureSeasonPartitions>> | undefined;
      // A run over the killmail family only, so what creates the season is the call waiting.
      const first = await maintain(t.db, {
        families: [killmailFamily],
        onProgress: async (event) => {
          if (event.type !== 'lock-acquired') return;
          await t.db.insert(season).values({ id: 10, name: 'Season 10' });
          atOnce = await ensureSeasonPartitions(t.db, { waitForLockMs: 0 });
          // Held until the waiting call has found the lock taken (the run goes on after this).
          await new Promise<void>((found) => {
            ensured = ensureSeasonPartitions(t.db, {
              onProgress: (e) => {
                if (e.type === 'lock-busy' && !busy) {
                  busy = { holderPid: e.holderPid };
                  found();
                }
              },
            });
          });
        },
      });
      expect(first).toMatchObject({ status: 'applied', ok: true, failed: 0 });
      expect(atOnce).toMatchObject({ status: 'locked', results: [] });
      expect(busy?.holderPid).toBe(first.lockHolderPid);
      const result = await ensured;
      expect(result).toMatchObject({ status: 'applied', ok: true, failed: 0 });
      expect(result?.results.map((r) => `${r.outcome} ${r.step.partitions.join()}`)).toEqual([
        'done leaderboard_run_s10',
        'done run_group_member_s10',
      ]);
    });
  },
);

describe('two maintain() at once on one node-postgres Client', () => {
  const t = useTestDatabase();

  it('the second is locked and sends nothing; the first applies; the Client stays usable', async () => {
    const client = new pg.Client({ connectionString: t.url });
    await client.connect();
    try {
      const db = drizzleNodePostgres(client);
      await t.sql`INSERT INTO season (id, name) VALUES (9, 'Season 9')`;
      // Every statement either run sends goes through the Client's query().
      let queries = 0;
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: unknown }).query = (...args: unknown[]) => {
        queries += 1;
        return query(...args);
      };
      let sentBySecond = -1;
      let second: Awaited<ReturnType<typeof maintain>> | undefined;
      const first = await maintain(db, {
        families: builtInFamilies,
        onProgress: async (event) => {
          if (event.type !== 'lock-acquired') return;
          const before = queries;
          second = await maintain(drizzleNodePostgres(client), { families: builtInFamilies });
          sentBySecond = queries - before;
        },
      });
      expect(first).toMatchObject({ status: 'applied', ok: true, done: 2, failed: 0 });
      expect(second).toMatchObject({ status: 'locked', ok: true, results: [] });
      expect(second?.lockHolderPid).toBe(first.lockHolderPid);
      expect(second?.warnings.join()).toContain("using this database's one connection");
      expect(sentBySecond).toBe(0);
      expect(await maintain(db, { families: builtInFamilies })).toMatchObject({
        status: 'applied',
        done: 0,
      });
    } finally {
      await client.end();
    }
  });
});
