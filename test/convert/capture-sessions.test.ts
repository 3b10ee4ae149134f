import { describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { leaderboardSides } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');

/**
 * A writer with session_replication_role = replica (a subscription's apply worker) changes rows
 * the fill has already copied, and adds a member. The capture trigger and the trigger giving a
 * new member its season were ordinary ones, which such a session does not fire: the change never
 * reached the log (the twin kept the old row), and the member had no season. Both are enabled
 * ALWAYS now, so the twins end equal to the legacy tables. Its TRUNCATE is refused.
 */
describe('a conversion fill while a replica-role session writes and truncates', () => {
  it('keeps the twin equal to the legacy table, by count and checksum', async () => {
    await buildLegacyLeaderboard(t.sql, { runs: 2_000, seasons: 2 });
    await convertPrep(t.db, target);
    await convertBackfill(t.db, target);
    const replica = await t.connect({ max: 1 }).reserve();
    let updated = 0;
    let truncate: { code: string; message: string } | null = null;
    try {
      await replica.unsafe('SET session_replication_role = replica');
      await convertFill(t.db, target, {
        batchSize: 200,
        onProgress: async (p) => {
          // Once, after the runs' first batches are in the twin: change those rows.
          if (p.step !== 'fill' || p.table !== 'leaderboard_run' || updated > 0) return;
          if (p.done < 400) return;
          const rows = await replica.unsafe(
            `UPDATE public.leaderboard_run SET score = score + 1
             WHERE id IN (SELECT id FROM public.leaderboard_run ORDER BY id LIMIT 100)
             RETURNING id`,
          );
          updated = rows.length;
          truncate = await replica.unsafe('TRUNCATE public.run_group_member').then(
            () => null,
            (e: { code: string; message: string }) => e,
          );
          // A new member: prep's trigger gives it its run's season, replica role or not.
          await replica.unsafe(
            `INSERT INTO public.run_group_member (run_guid, character_name, class_id, spec_id, role)
             SELECT run_guid, 'replica writer', 1, 1, 'dps' FROM public.leaderboard_run ORDER BY id LIMIT 1`,
          );
        },
      });
    } finally {
      replica.release();
    }
    expect(updated).toBe(100);
    // A TRUNCATE logs no row: the twin would keep every row it removed. Refused while copying.
    expect(truncate).toMatchObject({
      code: '55006',
      message: expect.stringMatching(
        /^pgparts: TRUNCATE of public\.run_group_member refused: a pgparts conversion is copying it/,
      ),
    });
    const [member] = await t.sql<{ season: number | null; expected: number }[]>`
      SELECT m.season_id AS season, r.season_id AS expected
      FROM public.run_group_member m JOIN public.leaderboard_run r USING (run_guid)
      WHERE m.character_name = 'replica writer'`;
    expect(member?.season).toBe(member?.expected);
    const sides = await leaderboardSides(t.sql);
    expect(sides.twin).toEqual(sides.legacy);
  });

  it('refuses the swap when another session disabled the capture for a while, switching nothing', async () => {
    // As a data-only restore does: triggers off, a change, triggers on again (the ordinary way).
    await t.sql.unsafe('ALTER TABLE public.leaderboard_run DISABLE TRIGGER USER');
    await t.sql.unsafe(
      'UPDATE public.leaderboard_run SET score = score + 1 WHERE id = (SELECT min(id) FROM public.leaderboard_run)',
    );
    await t.sql.unsafe('ALTER TABLE public.leaderboard_run ENABLE TRIGGER USER');
    await expect(convertSwap(t.db, target)).rejects.toThrow(
      /the capture trigger pgparts_capture_forward on public\.leaderboard_run is not enabled ALWAYS: another session disabled it while the conversion copied \(ALTER TABLE \.\.\. DISABLE TRIGGER, perhaps enabled again since\), or an earlier pgparts release made it: the twin may lack changes made meanwhile; nothing was switched.*Hint: If fill ran under an earlier pgparts release, run fill again/,
    );
    const [where] = await t.sql<{ legacy: string | null; twin: string | null }[]>`
      SELECT to_regclass('public.leaderboard_run')::text AS legacy,
             to_regclass('pgparts_leaderboard_new.leaderboard_run')::text AS twin`;
    expect(where).toEqual({
      legacy: 'leaderboard_run',
      twin: 'pgparts_leaderboard_new.leaderboard_run',
    });
    const [partitioned] = await t.sql<{ p: boolean }[]>`
      SELECT c.relkind = 'p' AS p FROM pg_class c WHERE c.oid = 'public.leaderboard_run'::regclass`;
    expect(partitioned?.p).toBe(false);
  });

  it('and the unswap likewise, when the capture on the partitioned tables was off for a while', async () => {
    // fill again puts the capture back (enabled ALWAYS); then the swap goes through.
    await convertFill(t.db, target, { batchSize: 1_000 });
    await convertSwap(t.db, target);
    await t.sql.unsafe('ALTER TABLE public.leaderboard_run DISABLE TRIGGER USER');
    await t.sql.unsafe(
      'UPDATE public.leaderboard_run SET score = score + 1 WHERE id = (SELECT min(id) FROM public.leaderboard_run)',
    );
    await t.sql.unsafe('ALTER TABLE public.leaderboard_run ENABLE TRIGGER USER');
    await expect(convertUnswap(t.db, target)).rejects.toThrow(
      /the capture trigger pgparts_capture_reverse on public\.leaderboard_run is not enabled ALWAYS: .*the legacy table may lack changes made meanwhile; nothing was switched.*Hint: If the swap ran under an earlier pgparts release and nothing disabled the trigger since, ALTER TABLE "public"\."leaderboard_run" ENABLE ALWAYS TRIGGER "pgparts_capture_reverse", then unswap\./,
    );
    const [partitioned] = await t.sql<{ p: boolean }[]>`
      SELECT c.relkind = 'p' AS p FROM pg_class c WHERE c.oid = 'public.leaderboard_run'::regclass`;
    expect(partitioned?.p).toBe(true);
  });
});
