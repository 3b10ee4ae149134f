import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  killsInSystem,
  killsInvolving,
  killsOfShipType,
  killsWithEnrichment,
  killsWithModuleTags,
  killsWorthAtLeast,
  latestKillmails,
  matchSurveillanceProfiles,
  suggestNames,
} from '../../src/domains/killmails/queries/index.js';
import {
  characters,
  killmailParticipants,
  killmailsEnriched,
  killmailsRaw,
  surveillanceFilters,
  surveillanceProfiles,
  systems,
  users,
} from '../../src/domains/killmails/tables.js';
import {
  characterRuns,
  runWithMembers,
  topRuns,
  topRunsFromViews,
  trimRuns,
} from '../../src/domains/leaderboard/queries/index.js';
import { ensureSeasonPartitions } from '../../src/domains/leaderboard/seasons.js';
import {
  dungeon,
  leaderboardRun,
  period,
  runGroupMember,
  season,
} from '../../src/domains/leaderboard/tables.js';
import { refreshTopKeys } from '../../src/domains/leaderboard/views.js';
import { rowsOf } from '../../src/run/rows.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';

// The same small data set under every driver; each query's answer is known in advance.
const now = new Date();
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);
const window = { from: minutesAgo(120), to: new Date(now.getTime() + 60_000) };
const JITA = 30000142;
const RIFTER = 587;
const levels = [15, 14, 13, 12, 11, 10];

describe.each(driverFactories)('hot-path queries through $name', (driver) => {
  const t = useDriverDatabase(driver);
  const guids = levels.map(() => randomUUID());
  const otherDungeonGuid = randomUUID();

  beforeAll(async () => {
    await t.db.insert(season).values({ id: 1, name: 'Season 1' });
    await t.db.insert(period).values({ id: 10, seasonId: 1 });
    await t.db.insert(dungeon).values([
      { id: 5, name: 'Ara-Kara' },
      { id: 6, name: 'The Stonevault' },
    ]);
    expect((await ensureSeasonPartitions(t.db)).ok).toBe(true);
    const run = (runGuid: string, dungeonId: number, level: number) => ({
      runGuid,
      seasonId: 1,
      periodId: 10,
      dungeonId,
      keystoneLevel: level,
      score: 100 + level * 10,
      durationMs: 1_800_000,
      completedAt: minutesAgo(level),
    });
    await t.db
      .insert(leaderboardRun)
      .values([
        ...levels.map((l, i) => run(guids[i] as string, 5, l)),
        run(otherDungeonGuid, 6, 9),
      ]);
    await t.db.insert(runGroupMember).values([
      ...[...guids, otherDungeonGuid].map((g) => ({
        seasonId: 1,
        runGuid: g,
        characterName: 'Alpha',
      })),
      ...guids.map((g, i) => ({ seasonId: 1, runGuid: g, characterName: `Mate${i}` })),
    ]);

    await t.db.insert(systems).values([
      { id: JITA, name: 'Jita' },
      { id: 30002187, name: 'Amarr' },
    ]);
    await t.db.insert(characters).values({ id: 9001, name: 'Alphard Kestrel' });
    const killmail = (id: number, minutes: number, systemId: number) => ({
      killmailId: id,
      killmailTime: minutesAgo(minutes),
      systemId,
      shipTypeId: RIFTER,
      rawPayload: { id },
    });
    await t.db
      .insert(killmailsRaw)
      .values([killmail(101, 30, JITA), killmail(102, 20, 30002187), killmail(103, 10, JITA)]);
    await t.db.insert(killmailsEnriched).values([
      {
        killmailId: 101,
        killmailTime: minutesAgo(30),
        iskValue: '2500000000',
        moduleTags: ['Cloak', 'T2 Guns'],
        enrichmentBlob: { faction: 'Guristas' },
      },
      {
        killmailId: 103,
        killmailTime: minutesAgo(10),
        iskValue: '150000',
        moduleTags: ['T2 Guns'],
        enrichmentBlob: { faction: 'Serpentis' },
      },
    ]);
    await t.db.insert(killmailParticipants).values([
      {
        killmailId: 101,
        killmailTime: minutesAgo(30),
        position: 0,
        isVictim: true,
        characterId: 9001,
      },
      {
        killmailId: 103,
        killmailTime: minutesAgo(10),
        position: 1,
        isVictim: false,
        characterId: 9001,
      },
      {
        killmailId: 102,
        killmailTime: minutesAgo(20),
        position: 0,
        isVictim: true,
        characterId: 42,
      },
    ]);
    const [user] = await t.db.insert(users).values({ name: 'watcher' }).returning();
    const [profile] = await t.db
      .insert(surveillanceProfiles)
      .values({ userId: user?.id as number, name: 'Jita kills' })
      .returning();
    await t.db.insert(surveillanceFilters).values([
      {
        profileId: profile?.id as number,
        orderIndex: 0,
        filterType: 'system',
        value: { ids: [JITA] },
      },
    ]);
  });

  const ids = (rows: { killmailId: number }[]) => rows.map((r) => r.killmailId);

  it('reads the killmail feed: latest, by system, by ship type, involving a character', async () => {
    expect(ids(await latestKillmails(t.db, { limit: 10 }))).toEqual([103, 102, 101]);
    expect(ids(await killsInSystem(t.db, { systemId: JITA, ...window }))).toEqual([103, 101]);
    expect(ids(await killsOfShipType(t.db, { shipTypeId: RIFTER, ...window }))).toEqual([
      103, 102, 101,
    ]);
    expect(ids(await killsInvolving(t.db, { kind: 'character', id: 9001 }))).toEqual([103, 101]);
  });

  it('reads the enrichment: ISK threshold, module tags, JSON containment', async () => {
    expect(ids(await killsWorthAtLeast(t.db, { minIsk: '1000000000', ...window }))).toEqual([101]);
    expect(ids(await killsWithModuleTags(t.db, { tags: ['T2 Guns'], ...window }))).toEqual([
      103, 101,
    ]);
    expect(ids(await killsWithModuleTags(t.db, { tags: ['Cloak', 'T2 Guns'], ...window }))).toEqual(
      [101],
    );
    expect(
      ids(await killsWithEnrichment(t.db, { fragment: { faction: 'Serpentis' }, ...window })),
    ).toEqual([103]);
  });

  it('suggests names through the trigram indexes and matches surveillance profiles', async () => {
    const names = await suggestNames(t.db, { query: 'alph' });
    expect(names.map((n) => [n.kind, n.id, n.name])).toEqual([
      ['character', 9001, 'Alphard Kestrel'],
    ]);
    const jita = await matchSurveillanceProfiles(t.db, {
      killmailId: 101,
      killmailTime: minutesAgo(30),
    });
    expect(jita.map((m) => m.name)).toEqual(['Jita kills']);
    expect(
      await matchSurveillanceProfiles(t.db, { killmailId: 102, killmailTime: minutesAgo(20) }),
    ).toEqual([]);
  });

  it('reads the leaderboard: top runs, from the views, a character, a run with members', async () => {
    const top = await topRuns(t.db, { seasonId: 1, dungeonId: 5, limit: 3 });
    expect(top.map((r) => r.keystoneLevel)).toEqual([15, 14, 13]);
    await refreshTopKeys(t.db);
    const fromViews = await topRunsFromViews(t.db, { seasonId: 1, dungeonId: 5, limit: 3 });
    expect(fromViews.map((r) => r.runGuid)).toEqual(top.map((r) => r.runGuid));
    const alpha = await characterRuns(t.db, { seasonId: 1, characterName: 'Alpha' });
    expect(alpha).toHaveLength(7);
    const found = await runWithMembers(t.db, { runGuid: guids[0] as string, seasonId: 1 });
    expect(found?.members.map((m) => m.characterName).sort()).toEqual(['Alpha', 'Mate0']);
    const withoutSeason = await runWithMembers(t.db, { runGuid: guids[0] as string });
    expect(withoutSeason?.id).toBe(found?.id);
  });

  it('returns the same rows prepared (named statements, reused across calls)', async () => {
    const prepare = { prepare: true };
    const before = { killmailTime: minutesAgo(15), killmailId: 1 };
    for (let call = 0; call < 2; call += 1) {
      expect(await latestKillmails(t.db, { limit: 10 }, prepare)).toEqual(
        await latestKillmails(t.db, { limit: 10 }),
      );
      expect(await latestKillmails(t.db, { before }, prepare)).toEqual(
        await latestKillmails(t.db, { before }),
      );
      expect(await killsInSystem(t.db, { systemId: JITA, ...window }, prepare)).toEqual(
        await killsInSystem(t.db, { systemId: JITA, ...window }),
      );
      expect(await killsWithModuleTags(t.db, { tags: ['T2 Guns'], ...window }, prepare)).toEqual(
        await killsWithModuleTags(t.db, { tags: ['T2 Guns'], ...window }),
      );
      const fragment = { fragment: { faction: 'Serpentis' }, ...window };
      expect(await killsWithEnrichment(t.db, fragment, prepare)).toEqual(
        await killsWithEnrichment(t.db, fragment),
      );
      const kill = { killmailId: 101, killmailTime: minutesAgo(30) };
      const matches = await matchSurveillanceProfiles(t.db, kill, prepare);
      expect(matches.map((m) => m.name)).toEqual(['Jita kills']);
      expect(matches).toEqual(await matchSurveillanceProfiles(t.db, kill));
      const top = { seasonId: 1, dungeonId: 5, limit: 3 };
      expect(await topRuns(t.db, top, prepare)).toEqual(await topRuns(t.db, top));
      const alpha = { seasonId: 1, characterName: 'Alpha' };
      expect(await characterRuns(t.db, alpha, prepare)).toEqual(await characterRuns(t.db, alpha));
      const run = { runGuid: guids[0] as string, seasonId: 1 };
      expect(await runWithMembers(t.db, run, prepare)).toEqual(await runWithMembers(t.db, run));
    }
  });

  it('trims a season to the best N per (period, dungeon), members included', async () => {
    const result = await trimRuns(t.db, { seasonId: 1, keep: 2 });
    expect(result).toMatchObject({ runsDeleted: 4, membersDeleted: 8 });
    const left = rowsOf<{ level: number }>(
      await t.db.execute(
        sql`SELECT keystone_level AS level FROM leaderboard_run ORDER BY keystone_level DESC`,
      ),
    );
    expect(left.map((r) => r.level)).toEqual([15, 14, 9]);
    const members = rowsOf<{ n: number | string }>(
      await t.db.execute(sql`SELECT count(*) AS n FROM run_group_member`),
    );
    expect(Number(members[0]?.n)).toBe(5);
  });
});
