import { describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import { convertBackfill, convertFill, convertPrep } from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');

/**
 * Rows a finished backfill had no value for (their parent row has none, or is gone) are left
 * without the partition column. Fill refuses them, as it must; it used to say "run backfill
 * first", and a backfill, being done, changed nothing: the two sent the user back and forth.
 */
describe('fill, with rows a finished backfill could not give the partition column', () => {
  it('says backfill is done and what to do with the rows', async () => {
    await buildLegacyLeaderboard(t.sql, { runs: 60, seasons: 2 });
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    // As if their runs had no season: the derive trigger (which fills NULLs) set aside meanwhile.
    await t.sql.unsafe(`
      ALTER TABLE run_group_member DISABLE TRIGGER pgparts_derive_partition_key;
      UPDATE run_group_member SET season_id = NULL
      WHERE ctid IN (SELECT ctid FROM run_group_member LIMIT 3);
      ALTER TABLE run_group_member ENABLE TRIGGER pgparts_derive_partition_key;`);
    expect((await convertBackfill(t.db, target)).rowsUpdated ?? 0).toBe(0);
    expectPgpartsError(await rejection(convertFill(t.db, target)), 'conversion-state', {
      message:
        /3 rows of public\.run_group_member have no season_id yet; backfill is done and had no value for them \(their leaderboard_run row has no season_id, or there is none\): set season_id on them, or delete them, then run fill again/,
      step: 'convert fill',
    });
  });
});
