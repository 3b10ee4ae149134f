import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertVerify,
} from '../../src/ops/convert/index.js';
import type { AnyPgDatabase } from '../../src/run/database.js';
import { rowsOf } from '../../src/run/rows.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';

/**
 * The legacy fixture speaks postgres.js's `unsafe(text, params)`; each driver's own client can
 * do the same (multi-statement text without parameters, one statement with them).
 */
function fixtureClient(driver: string, db: AnyPgDatabase) {
  const client = (db as unknown as { $client: unknown }).$client;
  if (driver === 'postgres-js') return client;
  const c = client as {
    query(text: string, params?: unknown[]): Promise<unknown>;
    exec?(text: string): Promise<unknown>;
  };
  return {
    unsafe: (text: string, params?: unknown[]) =>
      !params && c.exec ? c.exec(text) : c.query(text, params),
  };
}

describe.each(driverFactories)('online conversion through $name', (driver) => {
  const t = useDriverDatabase(driver, { migrated: false });
  const target = builtInTarget('leaderboard');
  const count = async (table: string) =>
    Number(
      rowsOf<{ n: number | string }>(
        await t.db.execute(sql`SELECT count(*) AS n FROM ${sql.identifier(table)}`),
      )[0]?.n,
    );

  it('converts the legacy leaderboard: prep, backfill, fill, swap, and verify agrees', async () => {
    await buildLegacyLeaderboard(fixtureClient(driver.name, t.db) as never, {
      runs: 300,
      seasons: 2,
    });
    const legacy = {
      runs: await count('leaderboard_run'),
      members: await count('run_group_member'),
    };
    expect(legacy).toEqual({ runs: 300, members: 1500 });

    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    const fill = await convertFill(t.db, target);
    expect(fill.rowsCopied).toBe(1800);
    await convertSwap(t.db, target);
    const report = await convertVerify(t.db, target);
    expect(report.ok).toBe(true);
    expect(report.tables.map((r) => [r.table, r.legacyRows, r.partitionedRows])).toEqual([
      ['leaderboard_run', 300, 300],
      ['run_group_member', 1500, 1500],
    ]);

    const parents = rowsOf<{ name: string; kind: string }>(
      await t.db.execute(sql`SELECT relname AS name, relkind::text AS kind FROM pg_class
        WHERE relname IN ('leaderboard_run', 'run_group_member')
          AND relnamespace = 'public'::regnamespace ORDER BY 1`),
    );
    expect(parents).toEqual([
      { name: 'leaderboard_run', kind: 'p' },
      { name: 'run_group_member', kind: 'p' },
    ]);
    expect({
      runs: await count('leaderboard_run'),
      members: await count('run_group_member'),
    }).toEqual(legacy);
  });
});
