import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { ensureSeasonPartitions } from '../../src/domains/leaderboard/seasons.js';
import { season } from '../../src/domains/leaderboard/tables.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { MAINTENANCE_LOCK_KEY } from '../../src/run/advisory-lock.js';
import { maintain } from '../../src/run/maintain.js';
import { rowsOf } from '../../src/run/rows.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';

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
});
