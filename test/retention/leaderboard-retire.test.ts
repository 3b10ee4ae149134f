import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { dropSeason, reattachSeason } from '../../src/domains/leaderboard/seasons.js';
import { apply } from '../../src/run/apply.js';
import { digests, insertRuns, rowsByPartition } from '../drain/leaderboard-fixture.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

beforeAll(async () => {
  await t.sql`INSERT INTO season (id, name) VALUES (12, 'S12'), (13, 'S13'), (14, 'S14')`;
  await t.sql`INSERT INTO dungeon (id, name) VALUES (1, 'D1'), (2, 'D2')`;
});

describe('leaderboard seasons through apply, drain and retire', () => {
  it('apply creates partitions for every season, and drains one whose rows arrived first', async () => {
    await insertRuns(t.sql, 14, 200); // lands in DEFAULT: no partitions yet
    const before = await digests(t.sql);
    const result = await apply(t.db, { families: [leaderboardFamily] });
    expect(result.ok).toBe(true);
    const kinds = result.results.map((r) => [r.step.kind, r.step.label, r.outcome]);
    expect(kinds).toEqual(
      expect.arrayContaining([
        ['create', '12', 'done'],
        ['create', '13', 'done'],
        ['drain', '14', 'done'],
      ]),
    );
    expect(result.results.find((r) => r.step.kind === 'drain')?.message).toMatch(/1200 rows moved/);
    expect(await digests(t.sql)).toEqual(before);
    const parts = await rowsByPartition(t.sql);
    expect(parts.leaderboard_run_s14).toBe(200);
    expect(parts.run_group_member_s14).toBe(1000);
    expect(parts.leaderboard_run_default).toBeUndefined();
    const again = await apply(t.db, { families: [leaderboardFamily] });
    expect(again.plan?.steps).toEqual([]);
  });

  it('drops a season members first, with a plain DETACH because of DEFAULT, keeping the FK', async () => {
    await insertRuns(t.sql, 13, 30, 5000);
    await insertRuns(t.sql, 12, 10, 9000);
    const kept = {
      runs: await tableDigest(t.sql, 'leaderboard_run', ['season_id', 'id'], 'season_id <> 13'),
      members: await tableDigest(
        t.sql,
        'run_group_member',
        ['season_id', 'run_guid', 'character_name'],
        'season_id <> 13',
      ),
    };
    const result = await dropSeason(t.db, 13);
    expect(result).toMatchObject({ status: 'retired', mode: 'drop', detach: 'plain' });
    expect(result.detachNote).toContain('DEFAULT');
    expect(result.partitions.map((p) => p.partition)).toEqual([
      'run_group_member_s13',
      'leaderboard_run_s13',
    ]);
    expect(await digests(t.sql)).toEqual(kept);
    const orphan = t.sql`INSERT INTO run_group_member (season_id, run_guid, character_name) VALUES (12, gen_random_uuid(), 'x')`;
    await expect(orphan).rejects.toMatchObject({ code: '23503' });
    // The next maintenance run does not bring season 13 back (it is still a row of `season`).
    const again = await apply(t.db, { families: [leaderboardFamily] });
    expect(again.plan?.steps).toEqual([]);
    // Season 13 rows written now land in DEFAULT, as for any season without partitions.
    await insertRuns(t.sql, 13, 1, 7000);
    expect((await rowsByPartition(t.sql)).leaderboard_run_default).toBe(1);
  });

  it('archives a season and brings it back whole', async () => {
    const before = await digests(t.sql);
    const s12 = await tableDigest(
      t.sql,
      'run_group_member',
      ['season_id', 'run_guid', 'character_name'],
      'season_id = 12',
    );
    const archived = await dropSeason(t.db, 12, { mode: 'archive' });
    expect(archived.partitions.map((p) => p.archivedAs)).toEqual([
      'pgparts_archive.run_group_member_s12',
      'pgparts_archive.leaderboard_run_s12',
    ]);
    expect(
      await tableDigest(
        t.sql,
        'run_group_member',
        ['season_id', 'run_guid', 'character_name'],
        'season_id = 12',
      ),
    ).toEqual({ rows: 0, checksum: expect.any(String) });
    const [row] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pgparts_archive.run_group_member_s12`;
    expect(row?.n).toBe(s12.rows);
    await reattachSeason(t.db, 12);
    expect(await digests(t.sql)).toEqual(before);
  });
});
