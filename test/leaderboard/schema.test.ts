import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import {
  dungeon,
  leaderboardRun,
  period,
  realm,
  runGroupMember,
  season,
} from '../../src/domains/leaderboard/tables.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

async function locate(table: string, column: string, value: string): Promise<string[]> {
  const rows = await t.sql.unsafe<{ part: string }[]>(
    `SELECT DISTINCT tableoid::regclass::text AS part FROM ${table} WHERE ${column} = $1 ORDER BY 1`,
    [value],
  );
  return rows.map((r) => r.part);
}

beforeAll(async () => {
  await t.db.insert(season).values([
    { id: 1, name: 'Season 1' },
    { id: 2, name: 'Season 2' },
  ]);
  await t.db.insert(period).values([
    { id: 10, seasonId: 1 },
    { id: 20, seasonId: 2 },
  ]);
  await t.db.insert(dungeon).values({ id: 5, name: 'Ara-Kara' });
  await t.db.insert(realm).values({ id: 7, name: 'Silvermoon', region: 'eu' });
  // Season 1 gets its own partitions; season 2 has none yet.
  for (const table of leaderboardFamily.tables) {
    for (const s of createPartitionSql(leaderboardFamily, table, { kind: 'list', value: 1 })) {
      await t.sql.unsafe(s);
    }
  }
});

const run = (seasonId: number, periodId: number, keystoneLevel = 12) => ({
  runGuid: randomUUID(),
  region: 'eu',
  seasonId,
  periodId,
  dungeonId: 5,
  realmId: 7,
  completedAt: new Date('2026-01-02T03:04:05Z'),
  durationMs: 1_800_000 + keystoneLevel,
  keystoneLevel,
  score: 300 + keystoneLevel,
});

describe('leaderboard partitions', () => {
  it('routes typed inserts to the season partition, or DEFAULT when the season has none', async () => {
    const [s1] = await t.db.insert(leaderboardRun).values(run(1, 10)).returning();
    const [s2] = await t.db.insert(leaderboardRun).values(run(2, 20)).returning();
    await t.db.insert(runGroupMember).values([
      {
        seasonId: 1,
        runGuid: s1?.runGuid as string,
        characterName: 'Alpha',
        classId: 1,
        specId: 1,
        role: 'tank',
      },
      {
        seasonId: 2,
        runGuid: s2?.runGuid as string,
        characterName: 'Beta',
        classId: 2,
        specId: 3,
        role: 'healer',
      },
    ]);
    expect(await locate('leaderboard_run', 'run_guid', s1?.runGuid as string)).toEqual([
      'leaderboard_run_s1',
    ]);
    expect(await locate('leaderboard_run', 'run_guid', s2?.runGuid as string)).toEqual([
      'leaderboard_run_default',
    ]);
    expect(await locate('run_group_member', 'run_guid', s1?.runGuid as string)).toEqual([
      'run_group_member_s1',
    ]);
    expect(await locate('run_group_member', 'run_guid', s2?.runGuid as string)).toEqual([
      'run_group_member_default',
    ]);
  });

  it('rejects a member whose run belongs to another season', async () => {
    const [s2] = await t.db
      .insert(leaderboardRun)
      .values(run(2, 20, 14))
      .returning();
    const insert = t.db
      .insert(runGroupMember)
      .values({ seasonId: 1, runGuid: s2?.runGuid as string, characterName: 'Gamma' });
    await expect(insert).rejects.toMatchObject({
      cause: { code: '23503', constraint_name: 'run_group_member_run_fkey' },
    });
  });

  it('rejects a second run with the same run_guid in the same season', async () => {
    const first = run(1, 10, 15);
    await t.db.insert(leaderboardRun).values(first);
    const again = t.db.insert(leaderboardRun).values({ ...first, durationMs: 1 });
    await expect(again).rejects.toMatchObject({ cause: { code: '23505' } });
  });

  it('cascades a run deletion to its members, across partitions', async () => {
    for (const seasonId of [1, 2]) {
      const [r] = await t.db
        .insert(leaderboardRun)
        .values(run(seasonId, seasonId * 10, 16))
        .returning();
      const guid = r?.runGuid as string;
      await t.db
        .insert(runGroupMember)
        .values(
          ['a', 'b', 'c', 'd', 'e'].map((n) => ({ seasonId, runGuid: guid, characterName: n })),
        );
      expect(await t.db.$count(runGroupMember, eq(runGroupMember.runGuid, guid))).toBe(5);
      await t.db.delete(leaderboardRun).where(eq(leaderboardRun.runGuid, guid));
      expect(await t.db.$count(runGroupMember, eq(runGroupMember.runGuid, guid))).toBe(0);
    }
  });

  it('hands out increasing ids from one sequence across seasons', async () => {
    const rows = await t.db
      .insert(leaderboardRun)
      .values([run(1, 10, 20), run(2, 20, 21)])
      .returning();
    const [a, b] = rows.map((r) => r.id);
    expect(b).toBeGreaterThan(a as number);
  });
});
