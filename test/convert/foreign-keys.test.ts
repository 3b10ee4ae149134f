import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');

/**
 * Where the foreign key of `table` points, and whether it is validated. Only the key itself
 * (conparentid = 0): PostgreSQL 14-17 also list a clone per partition of the referenced table.
 */
async function foreignKey(table: string) {
  const [fk] = await t.sql`SELECT c.confrelid::regclass::text AS target, t.relkind, c.convalidated
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.confrelid
    WHERE c.conrelid = ${table}::regclass AND c.contype = 'f' AND c.conparentid = 0`;
  return fk;
}

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 300, seasons: 2 });
  // Tables of the app outside the family that reference the runs.
  await t.sql.unsafe(`
    ALTER TABLE leaderboard_run ADD CONSTRAINT legacy_run_season_guid UNIQUE (season_id, run_guid);
    CREATE TABLE run_video (id serial PRIMARY KEY, season_id integer NOT NULL, run_guid uuid NOT NULL, url text,
      FOREIGN KEY (season_id, run_guid) REFERENCES leaderboard_run (season_id, run_guid));
    INSERT INTO run_video (season_id, run_guid, url) SELECT season_id, run_guid, 'v' FROM leaderboard_run LIMIT 10;
    CREATE TABLE run_comment (id serial PRIMARY KEY, run_guid uuid REFERENCES leaderboard_run (run_guid), body text);`);
});

describe('foreign keys from other tables (docs/postgres-behaviours.md#views-bind-to-tables)', () => {
  it('a key the partitioned table cannot have is refused at prep, before any change', async () => {
    const before = await t.sql`SELECT n.nspname, c.relname FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg\_%'
      AND n.nspname <> 'information_schema' ORDER BY 1, 2`;
    expectPgpartsError(await rejection(convertPrep(t.db, target)), 'spec-mismatch', {
      message:
        /"public"."run_comment" references leaderboard_run \(run_guid\)[\s\S]*Add season_id to "public"."run_comment"/,
      table: '"public"."run_comment"',
      step: 'convert prep',
    });
    // Nothing was created: no twins, no state, no operations record, no new column.
    const after = await t.sql`SELECT n.nspname, c.relname FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg\_%'
      AND n.nspname <> 'information_schema' ORDER BY 1, 2`;
    expect(after).toEqual(before);
    const [column] = await t.sql`SELECT count(*)::int AS n FROM pg_attribute
      WHERE attrelid = 'run_group_member'::regclass AND attname = 'season_id'`;
    expect(column?.n).toBe(0);
    expect((await foreignKey('run_comment'))?.relkind).toBe('r');
  });

  it('are re-pointed to the partitioned table by the swap, validated, and enforced', async () => {
    await t.sql`DROP TABLE run_comment`;
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    await convertSwap(t.db, target);
    expect(await foreignKey('run_video')).toEqual({
      target: 'leaderboard_run',
      relkind: 'p',
      convalidated: true,
    });
    await expect(
      t.sql`INSERT INTO run_video (season_id, run_guid) VALUES (1, gen_random_uuid())`,
    ).rejects.toThrow(/violates foreign key constraint/);
    const [run] =
      await t.sql`INSERT INTO leaderboard_run (run_guid, season_id) VALUES (gen_random_uuid(), 2)
      RETURNING run_guid::text`;
    await t.sql`INSERT INTO run_video (season_id, run_guid) VALUES (2, ${String(run?.run_guid)})`;
  });

  it('and back to the legacy table by unswap', async () => {
    await convertUnswap(t.db, target);
    expect(await foreignKey('run_video')).toEqual({
      target: 'leaderboard_run',
      relkind: 'r',
      convalidated: true,
    });
    const [n] =
      await t.sql`SELECT count(*)::int AS n FROM run_video v JOIN leaderboard_run r USING (season_id, run_guid)`;
    expect(n?.n).toBe(11);
  });
});
