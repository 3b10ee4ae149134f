import { beforeAll, describe, expect, it } from 'vitest';
import { readOperations } from '../../src/catalog/operations.js';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertAbandon,
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
  convertVerify,
  readConversionState,
} from '../../src/ops/convert/index.js';
import { pgparts as runPgparts } from '../cli/run-cli.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';
import { countAndChecksum, MEMBER_COLUMNS, RUN_COLUMNS } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const family = target.family;

/** The legacy tables' rows, and their columns as the catalog lists them. */
async function legacy() {
  const columns = await t.sql<{ name: string }[]>`
    SELECT table_name || '.' || column_name AS name FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name IN ('leaderboard_run', 'run_group_member')
    ORDER BY table_name, ordinal_position`;
  return {
    runs: await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS),
    members: await countAndChecksum(t.sql, 'public.run_group_member', MEMBER_COLUMNS),
    columns: columns.map((c) => c.name),
  };
}

/** Every trigger on the legacy tables, and what the conversion keeps in its own schemas. */
async function conversionObjects() {
  const triggers = await t.sql<{ name: string }[]>`
    SELECT tgrelid::regclass::text || ':' || tgname AS name FROM pg_trigger
    WHERE NOT tgisinternal AND tgrelid IN ('public.leaderboard_run'::regclass, 'public.run_group_member'::regclass)
    ORDER BY 1`;
  const [twin] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgparts_leaderboard_new'`;
  const [functions] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_proc WHERE proname LIKE 'derive_leaderboard_%'`;
  const [changes] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pgparts_convert.changes WHERE family = 'leaderboard'`;
  return {
    triggers: triggers.map((r) => r.name),
    twinSchema: twin?.n ?? 0,
    deriveFunctions: functions?.n ?? 0,
    changes: changes?.n ?? 0,
  };
}

/** An app write on its own connection: a new run with two members, and an update. */
async function appWrites(score: number) {
  const app = t.connect({ max: 1 });
  await app`WITH run AS (
      INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, keystone_level, score)
      VALUES (gen_random_uuid(), 'eu', 1, 1, 2, 12, ${score}) RETURNING run_guid)
    INSERT INTO run_group_member (run_guid, character_name, class_id, spec_id, role)
    SELECT run_guid, name, 1, 1, 'dps' FROM run, (VALUES ('abandon-a'), ('abandon-b')) AS v(name)`;
  await app`UPDATE leaderboard_run SET score = score + 1 WHERE id = (SELECT min(id) FROM leaderboard_run)`;
  await app.end();
}

let before: Awaited<ReturnType<typeof legacy>>;

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 300, seasons: 2 });
  before = await legacy();
});

describe('convert abandon', () => {
  it('refuses when no conversion was started, changing nothing', async () => {
    expectPgpartsError(await rejection(convertAbandon(t.db, target)), 'conversion-state', {
      message: /nothing to abandon/,
    });
    expect(await legacy()).toEqual(before);
  });

  it('after prep, backfill and fill (writers on): a dry run prints the plan and changes nothing', async () => {
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    await appWrites(100);
    await convertFill(t.db, target);
    await appWrites(200); // logged for a replay that will not come
    const during = await conversionObjects();
    expect(during.twinSchema).toBe(1);
    expect(during.triggers.length).toBeGreaterThan(0);
    expect(during.changes).toBeGreaterThan(0);

    const dry = await convertAbandon(t.db, target, { dryRun: true });
    expect(dry.sql).toMatch(
      /DROP TRIGGER IF EXISTS "?pgparts_capture_forward"? ON "public"\."leaderboard_run"/,
    );
    expect(dry.sql).toContain(
      'ALTER TABLE "public"."run_group_member" DROP COLUMN IF EXISTS "season_id"',
    );
    expect(dry.sql).toContain('DROP TABLE IF EXISTS "pgparts_leaderboard_new"."leaderboard_run"');
    expect(dry.sql).not.toMatch(/CASCADE/);
    expect(await conversionObjects()).toEqual(during);
  });

  it('puts the legacy tables back as they were before prep, every row kept, and frees the family', async () => {
    const rowsNow = {
      runs: await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS),
      members: await countAndChecksum(t.sql, 'public.run_group_member', MEMBER_COLUMNS),
    };
    const run = await runPgparts(
      undefined,
      '--database-url',
      t.url,
      'convert',
      'leaderboard',
      'abandon',
      '--yes',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(
      'dropped the columns prep added: public.run_group_member.season_id',
    );
    // Rows: exactly those the app left (its writes included), nothing lost or added.
    const after = await legacy();
    expect({ runs: after.runs, members: after.members }).toEqual(rowsNow);
    expect(after.runs.rows).toBe(before.runs.rows + 2);
    // Shape: the columns of before prep, no trigger, no twin, no derive function, no log.
    expect(after.columns).toEqual(before.columns);
    expect(await conversionObjects()).toEqual({
      triggers: [],
      twinSchema: 0,
      deriveFunctions: 0,
      changes: 0,
    });
    expect(await readConversionState(t.db, family)).toBeNull();
    expect(await readOperations(t.db, family)).toEqual([]);
    // An app write now is logged nowhere.
    await appWrites(300);
    expect((await conversionObjects()).changes).toBe(0);
  });

  it('a conversion started again afterwards runs from the start to a verified swap', async () => {
    const legacyRows = await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS);
    const prep = await convertPrep(t.db, target);
    expect(prep.needsBackfill).toEqual(['run_group_member']);
    await convertBackfill(t.db, target);
    await convertFill(t.db, target);
    await convertSwap(t.db, target);
    expect((await convertVerify(t.db, target)).ok).toBe(true);
    expect(await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS)).toEqual(
      legacyRows,
    );
  });

  it('after a swap it refuses (unswap first), changing nothing', async () => {
    const state = await readConversionState(t.db, family);
    expect(state?.step).toBe('swapped');
    const rows = await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS);
    expectPgpartsError(await rejection(convertAbandon(t.db, target)), 'conversion-state', {
      message: /Run unswap first/,
    });
    expect((await readConversionState(t.db, family))?.step).toBe('swapped');
    expect(await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS)).toEqual(rows);
  });

  it('after an unswap it gives up the conversion, and leaves none of its schemas or triggers', async () => {
    const rows = await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS);
    await convertUnswap(t.db, target);
    await convertAbandon(t.db, target);
    const left = await t.sql<{ name: string }[]>`
      SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'pgparts\_leaderboard%'
      UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE 'pgparts\_%'`;
    expect(left).toEqual([]);
    expect(await countAndChecksum(t.sql, 'public.leaderboard_run', RUN_COLUMNS)).toEqual(rows);
  });
});
