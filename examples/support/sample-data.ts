import { randomUUID } from 'node:crypto';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import {
  characters,
  killmailParticipants,
  killmailsEnriched,
  killmailsRaw,
  systems,
} from '../../src/domains/killmails/tables.js';
import {
  dungeon,
  leaderboardRun,
  period,
  realm,
  runGroupMember,
  season,
} from '../../src/domains/leaderboard/tables.js';
import type { AnyPgDatabase } from '../../src/run/database.js';

const CLASSES = ['warrior', 'priest', 'mage', 'rogue', 'druid'];
const ROLES = ['tank', 'healer', 'dps', 'dps', 'dps'];

/** Seasons, their periods, dungeons, realms; and `runsPerSeason` runs of 5 members each. */
export async function loadLeaderboardSample(
  db: AnyPgDatabase,
  seasons: number[],
  runsPerSeason: number,
): Promise<void> {
  await db
    .insert(season)
    .values(seasons.map((id) => ({ id, name: `Season ${id}` })))
    .onConflictDoNothing();
  await db
    .insert(period)
    .values(seasons.flatMap((s) => [1, 2].map((p) => ({ id: s * 100 + p, seasonId: s }))))
    .onConflictDoNothing();
  await db
    .insert(dungeon)
    .values(
      ['Ara-Kara', 'The Stonevault', 'City of Threads', 'The Dawnbreaker'].map((name, i) => ({
        id: i + 1,
        name,
      })),
    )
    .onConflictDoNothing();
  await db.insert(realm).values({ id: 1, name: 'Silvermoon', region: 'eu' }).onConflictDoNothing();
  for (const s of runsPerSeason > 0 ? seasons : []) {
    const runs = Array.from({ length: runsPerSeason }, (_, i) => ({
      runGuid: randomUUID(),
      region: 'eu',
      seasonId: s,
      periodId: s * 100 + 1 + (i % 2),
      dungeonId: 1 + (i % 4),
      realmId: 1,
      completedAt: new Date(Date.UTC(2026, 0, 1 + (i % 28), i % 24)),
      durationMs: 1_500_000 + i * 1000,
      keystoneLevel: 8 + ((i * 7) % 12),
      score: 250 + ((i * 13) % 90),
    }));
    const inserted = await db
      .insert(leaderboardRun)
      .values(runs)
      .returning({ runGuid: leaderboardRun.runGuid });
    await db.insert(runGroupMember).values(
      inserted.flatMap((r, i) =>
        CLASSES.map((cls, m) => ({
          seasonId: s,
          runGuid: r.runGuid,
          characterName: `${cls}${(i * 5 + m) % 97}`,
          classId: m + 1,
          specId: m * 3 + 1,
          role: ROLES[m] ?? 'dps',
        })),
      ),
    );
  }
}

/**
 * Lookup names and `count` killmails spread from the start of the month `months` before `now`'s
 * month up to `now`: always inside those calendar months, whatever the day of the month.
 */
export async function loadKillmailSample(
  db: AnyPgDatabase,
  now: Date,
  count: number,
  months = 3,
): Promise<void> {
  await db
    .insert(systems)
    .values([
      { id: 30000142, name: 'Jita', securityStatus: 0.95 },
      { id: 30002187, name: 'Amarr', securityStatus: 1.0 },
      { id: 30002659, name: 'Dodixie', securityStatus: 0.87 },
    ])
    .onConflictDoNothing();
  await db
    .insert(characters)
    .values(
      Array.from({ length: 20 }, (_, i) => ({
        id: 9000 + i,
        name: `Pilot ${i}`,
        corporationId: 98000 + (i % 4),
      })),
    )
    .onConflictDoNothing();
  const spanMs =
    now.getTime() - addIntervals('month', intervalStart('month', now), -months).getTime() - 120_000;
  for (let i = 0; i < count; i++) {
    const killmailTime = new Date(now.getTime() - Math.floor((spanMs * i) / count) - 60_000);
    const killmailId = 120_000_000 + i;
    const systemId = [30000142, 30002187, 30002659][i % 3] as number;
    await db.insert(killmailsRaw).values({
      killmailId,
      killmailTime,
      systemId,
      shipTypeId: 587 + (i % 5),
      rawPayload: { killmail_id: killmailId },
    });
    await db.insert(killmailsEnriched).values({
      killmailId,
      killmailTime,
      iskValue: String(10_000_000 * (1 + (i % 50))),
      moduleTags: i % 3 === 0 ? ['T2 Guns', 'Cloak'] : ['Shield'],
      enrichmentBlob: { fitted: i % 7 },
    });
    await db.insert(killmailParticipants).values([
      {
        killmailId,
        killmailTime,
        position: 0,
        isVictim: true,
        characterId: 9000 + (i % 20),
        corporationId: 98000 + (i % 4),
        shipTypeId: 587,
        damageTaken: 3000,
      },
      {
        killmailId,
        killmailTime,
        position: 1,
        isVictim: false,
        characterId: 9000 + ((i + 7) % 20),
        corporationId: 98000 + ((i + 1) % 4),
        damageDone: 2000,
        finalBlow: true,
      },
      {
        killmailId,
        killmailTime,
        position: 2,
        isVictim: false,
        characterId: null,
        factionId: 500001,
        damageDone: 1000,
      },
    ]);
  }
}
