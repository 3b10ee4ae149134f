import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { assertSupportedServer } from '../../src/catalog/server-version.js';
import { migrate } from '../../src/migrations/migrate.js';
import { rowsOf } from '../../src/run/rows.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';
import { migrationCount } from '../support/migration-count.js';

describe.each(driverFactories)('migrate() through $name', (driver) => {
  const t = useDriverDatabase(driver, { migrated: false });

  const count = async (query: ReturnType<typeof sql>) =>
    Number(rowsOf<{ n: number | string }>(await t.db.execute(query))[0]?.n);

  it('reads the server version and accepts it (14 or newer)', async () => {
    expect(await assertSupportedServer(t.db)).toBeGreaterThanOrEqual(140000);
  });

  it('creates the five partitioned parents, their partitions and pg_trgm on an empty database', async () => {
    await migrate(t.db);
    expect(await count(sql`SELECT count(*) AS n FROM pg_partitioned_table`)).toBe(5);
    expect(await count(sql`SELECT count(*) AS n FROM pg_extension WHERE extname = 'pg_trgm'`)).toBe(
      1,
    );
    // Two DEFAULT partitions (leaderboard) and 16 months for each of the three killmail tables.
    expect(
      await count(sql`SELECT count(*) AS n FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r'`),
    ).toBe(2 + 3 * 16);
    expect(
      await count(sql`SELECT count(*) AS n FROM pg_matviews WHERE matviewname LIKE 'top_keys_%'`),
    ).toBe(4);
  });

  it('is idempotent: a second migrate records and creates nothing more', async () => {
    const tables = sql`SELECT count(*) AS n FROM pg_class WHERE relkind IN ('r', 'p', 'm', 'i', 'I')`;
    const before = await count(tables);
    await migrate(t.db);
    expect(await count(sql`SELECT count(*) AS n FROM pgparts.migrations`)).toBe(migrationCount());
    expect(await count(tables)).toBe(before);
  });
});
