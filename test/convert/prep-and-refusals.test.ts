import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  readConversionState,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const legacy = useTestDatabase({ migrated: false });
const migrated = useTestDatabase();
const target = builtInTarget('leaderboard');

beforeAll(async () => {
  await buildLegacyLeaderboard(legacy.sql, { runs: 600, seasons: 2 });
});

/** Index and constraint definitions of a table, with its schema name taken out. */
async function shape(sql: typeof legacy.sql, schema: string, table: string) {
  const indexes = await sql`SELECT indexrelid::regclass::text AS name,
      replace(replace(pg_get_indexdef(indexrelid), ${`${schema}.`}, ''), 'ON ONLY ', 'ON ') AS def
    FROM pg_index WHERE indrelid = ${`${schema}.${table}`}::regclass ORDER BY 2`;
  const constraints =
    await sql`SELECT conname AS name, replace(pg_get_constraintdef(oid), ${`${schema}.`}, '') AS def
    FROM pg_constraint WHERE conrelid = ${`${schema}.${table}`}::regclass AND conparentid = 0 ORDER BY 1`;
  return {
    indexes: indexes.map((i) => `${String(i.name).replace(`${schema}.`, '')}: ${i.def}`),
    constraints: constraints.map((c) => `${c.name}: ${c.def}`),
  };
}

describe('prep', () => {
  it('--dry-run prints the SQL and changes nothing', async () => {
    const dry = await convertPrep(legacy.db, target, { dryRun: true });
    expect(dry.sql).toContain('PARTITION BY LIST ("season_id")');
    expect(dry.sql).toContain(
      'CREATE TABLE "public"."leaderboard_run_s1" PARTITION OF "pgparts_leaderboard_new"."leaderboard_run" FOR VALUES IN (1)',
    );
    expect(dry.sql).toContain(
      'ALTER TABLE "public"."run_group_member" ADD COLUMN IF NOT EXISTS "season_id" integer',
    );
    expect(dry.sql).toContain('INCLUDE ("id")');
    const [left] =
      await legacy.sql`SELECT to_regnamespace('pgparts_convert') AS a, to_regnamespace('pgparts_leaderboard_new') AS b,
      (SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'run_group_member' AND column_name = 'season_id') AS c`;
    expect(left).toEqual({ a: null, b: null, c: 0 });
  });

  it('builds the twins', async () => {
    await convertPrep(legacy.db, target);
    const [twins] = await legacy.sql`SELECT count(*)::int AS n FROM pg_class
      WHERE relnamespace = 'pgparts_leaderboard_new'::regnamespace AND relkind = 'p'`;
    expect(twins?.n).toBe(2);
  });

  it('is safe to run again: finishes what a killed run left, adds partitions for new keys', async () => {
    await legacy.sql`INSERT INTO season VALUES (7, 'Season 7')`;
    // As if an earlier prep had been killed halfway: an index and the derive trigger missing.
    await legacy.sql`DROP INDEX pgparts_leaderboard_new.idx_leaderboard_run_run_guid`;
    await legacy.sql`DROP TRIGGER pgparts_derive_partition_key ON run_group_member`;
    const again = await convertPrep(legacy.db, target);
    expect(again.partitionsCreated).toEqual(['leaderboard_run_s7', 'run_group_member_s7']);
    const [back] = await legacy.sql`SELECT
      to_regclass('pgparts_leaderboard_new.idx_leaderboard_run_run_guid') IS NOT NULL AS index,
      EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'pgparts_derive_partition_key') AS trigger`;
    expect(back).toEqual({ index: true, trigger: true });
  });

  it('refuses a family that is already partitioned', async () => {
    expectPgpartsError(await rejection(convertPrep(migrated.db, target)), 'spec-mismatch', {
      message:
        'pgparts: public.leaderboard_run is already partitioned; there is nothing to convert',
      table: 'public.leaderboard_run',
      step: 'convert prep',
    });
  });
});

describe('steps out of order', () => {
  it('fill refuses while legacy rows lack the partition column', async () => {
    expectPgpartsError(await rejection(convertFill(legacy.db, target)), 'conversion-state', {
      message: /600 rows|rows of public.run_group_member have no season_id yet; run backfill first/,
      table: 'public.run_group_member',
      step: 'convert fill',
    });
  });

  it('swap refuses before the fill finished, cleanup before the swap', async () => {
    expectPgpartsError(await rejection(convertSwap(legacy.db, target)), 'conversion-state', {
      message: /run fill first/,
      step: 'convert swap',
    });
    expectPgpartsError(await rejection(convertCleanup(legacy.db, target)), 'conversion-state', {
      message: /cleanup only follows a swap/,
      step: 'convert cleanup',
    });
  });

  it('a legacy view that only holds on the legacy key stops the swap before anything moves', async () => {
    // Valid only because id alone is the legacy primary key (functional dependency, docs/postgres-behaviours.md#unique-keys-include-the-partition-key).
    await legacy.sql`CREATE VIEW run_by_id AS SELECT r.id, r.score, count(m.*) AS members
      FROM leaderboard_run r LEFT JOIN run_group_member m ON m.run_guid = r.run_guid GROUP BY r.id`;
    await convertBackfill(legacy.db, target);
    await convertFill(legacy.db, target);
    expectPgpartsError(await rejection(convertSwap(legacy.db, target)), 'refused', {
      message: /does not hold on the partitioned ones[\s\S]*Nothing was switched/,
      step: 'convert swap',
    });
    const [kind] =
      await legacy.sql`SELECT relkind FROM pg_class WHERE oid = 'public.leaderboard_run'::regclass`;
    expect(kind?.relkind).toBe('r');
    expect((await readConversionState(legacy.db, target.family))?.step).toBe('filled');
    // Nothing of the swap is left behind: the schema the legacy tables move to comes with them.
    const [old] = await legacy.sql`SELECT to_regnamespace('pgparts_leaderboard_old') AS schema`;
    expect(old?.schema).toBeNull();
    // Fixed in the live database, the swap goes through.
    await legacy.sql`DROP VIEW run_by_id`;
    await convertSwap(legacy.db, target);
    expect((await readConversionState(legacy.db, target.family))?.step).toBe('swapped');
  });

  it('after the swap the tables have exactly the keys and indexes a fresh migration has', async () => {
    for (const table of ['leaderboard_run', 'run_group_member']) {
      expect(await shape(legacy.sql, 'public', table)).toEqual(
        await shape(migrated.sql, 'public', table),
      );
    }
  });
});
