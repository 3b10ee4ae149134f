import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');
const role = `app_reader_${t.name.slice(-8)}`;

let prepped: Awaited<ReturnType<typeof convertPrep>> | undefined;

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 300, seasons: 2 });
  // The app connects as its own role, with privileges on the tables and views.
  await t.sql.unsafe(`CREATE ROLE "${role}" NOLOGIN;
    GRANT SELECT, INSERT ON leaderboard_run, run_group_member TO "${role}";
    GRANT SELECT ON top_keys_global, season_summary TO "${role}";
    CREATE FUNCTION touch_run() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.rank := 0; RETURN NEW; END $$;
    CREATE TRIGGER app_rank BEFORE INSERT ON leaderboard_run FOR EACH ROW EXECUTE FUNCTION touch_run();`);
  prepped = await convertPrep(t.db, target);
  await convertBackfill(t.db, target);
  await convertFill(t.db, target);
});

// Roles are cluster-wide: leave none behind.
afterAll(async () => {
  await t.sql.unsafe(`DROP OWNED BY "${role}"; DROP ROLE "${role}"`);
});

describe('what the swap must not lose', () => {
  it('an app trigger on a legacy table stops the swap until the twin has it', async () => {
    // prep says so, before the fill: the swap's refusal comes as no surprise after it.
    expect(prepped?.beforeSwap).toEqual([
      'trigger app_rank on public.leaderboard_run is not copied: create it (same name) on pgparts_leaderboard_new.leaderboard_run, or drop it, before swap (swap refuses until then)',
    ]);
    expectPgpartsError(await rejection(convertSwap(t.db, target)), 'refused', {
      message:
        /triggers the partitioned ones lack: app_rank on leaderboard_run[\s\S]*nothing was switched/,
      step: 'convert swap',
    });
    await t.sql`CREATE TRIGGER app_rank BEFORE INSERT ON pgparts_leaderboard_new.leaderboard_run
                FOR EACH ROW EXECUTE FUNCTION touch_run()`;
    await convertSwap(t.db, target);
    const [row] =
      await t.sql`INSERT INTO leaderboard_run (run_guid, season_id) VALUES (gen_random_uuid(), 1)
      RETURNING rank`;
    expect(row?.rank).toBe(0);
  });

  it('the app role keeps its privileges on the new tables and the re-created views', async () => {
    const [p] = await t.sql`SELECT
      has_table_privilege(${role}, 'public.leaderboard_run', 'SELECT') AS runs_select,
      has_table_privilege(${role}, 'public.leaderboard_run', 'INSERT') AS runs_insert,
      has_table_privilege(${role}, 'public.leaderboard_run', 'DELETE') AS runs_delete,
      has_table_privilege(${role}, 'public.run_group_member', 'INSERT') AS members_insert,
      has_table_privilege(${role}, 'public.top_keys_global', 'SELECT') AS top_select,
      has_table_privilege(${role}, 'public.season_summary', 'SELECT') AS summary_select,
      (SELECT relkind FROM pg_class WHERE oid = 'public.leaderboard_run'::regclass) AS kind`;
    expect(p).toEqual({
      runs_select: true,
      runs_insert: true,
      runs_delete: false,
      members_insert: true,
      top_select: true,
      summary_select: true,
      kind: 'p',
    });
  });
});
