import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  dungeon,
  leaderboardRun,
  period,
  realm,
  season,
} from '../../src/domains/leaderboard/tables.js';
import {
  refreshTopKeys,
  TOP_KEYS_LIMIT,
  topKeysGlobal,
  topKeysPerDungeon,
  topKeysPerGroup,
  topKeysPerPeriod,
} from '../../src/domains/leaderboard/views.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

interface Run {
  id: number;
  seasonId: number;
  periodId: number;
  dungeonId: number;
  keystoneLevel: number;
  score: number;
}
let runs: Run[] = [];

/** The expected ranking, computed here in TypeScript, independent of the view's SQL. */
function expectedTop(filter: (r: Run) => boolean): number[] {
  return runs
    .filter(filter)
    .sort((a, b) => b.keystoneLevel - a.keystoneLevel || b.score - a.score || a.id - b.id)
    .slice(0, TOP_KEYS_LIMIT)
    .map((r) => r.id);
}

beforeAll(async () => {
  await t.db.insert(season).values([
    { id: 1, name: 'S1' },
    { id: 2, name: 'S2' },
  ]);
  await t.db.insert(period).values([1, 2, 3, 4].map((id) => ({ id, seasonId: id <= 2 ? 1 : 2 })));
  await t.db.insert(dungeon).values([1, 2].map((id) => ({ id, name: `D${id}` })));
  await t.db.insert(realm).values({ id: 1, name: 'R', region: 'us' });
  // 2 seasons x 2 periods x 2 dungeons x 130 runs: more than TOP_KEYS_LIMIT per group, with ties.
  const values = [];
  let n = 0;
  for (const seasonId of [1, 2])
    for (const periodId of seasonId === 1 ? [1, 2] : [3, 4])
      for (const dungeonId of [1, 2])
        for (let i = 0; i < 130; i++) {
          n += 1;
          values.push({
            runGuid: randomUUID(),
            region: 'us',
            seasonId,
            periodId,
            dungeonId,
            realmId: 1,
            completedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)),
            durationMs: 1_000_000 + n,
            keystoneLevel: 2 + ((n * 7) % 19),
            score: 100 + ((n * 13) % 37),
          });
        }
  const inserted = await t.db.insert(leaderboardRun).values(values).returning();
  runs = inserted.map((r) => ({
    id: r.id,
    seasonId: r.seasonId,
    periodId: r.periodId as number,
    dungeonId: r.dungeonId as number,
    keystoneLevel: r.keystoneLevel as number,
    score: r.score as number,
  }));
});

describe('top_keys_* materialized views', () => {
  it('refresh concurrently and rank the expected runs', async () => {
    expect(await t.db.$count(topKeysGlobal)).toBe(0); // created WITH DATA on empty tables
    await refreshTopKeys(t.db); // CONCURRENTLY: fails without the unique index (docs/postgres-behaviours.md#refresh-concurrently)

    const group = await t.db
      .select({ runId: topKeysPerGroup.runId })
      .from(topKeysPerGroup)
      .where(
        and(
          eq(topKeysPerGroup.seasonId, 1),
          eq(topKeysPerGroup.periodId, 2),
          eq(topKeysPerGroup.dungeonId, 1),
        ),
      )
      .orderBy(asc(topKeysPerGroup.position));
    expect(group.map((r) => r.runId)).toEqual(
      expectedTop((r) => r.seasonId === 1 && r.periodId === 2 && r.dungeonId === 1),
    );

    const perPeriod = await t.db
      .select({ runId: topKeysPerPeriod.runId })
      .from(topKeysPerPeriod)
      .where(and(eq(topKeysPerPeriod.seasonId, 2), eq(topKeysPerPeriod.periodId, 3)))
      .orderBy(asc(topKeysPerPeriod.position));
    expect(perPeriod.map((r) => r.runId)).toEqual(
      expectedTop((r) => r.seasonId === 2 && r.periodId === 3),
    );

    const perDungeon = await t.db
      .select({ runId: topKeysPerDungeon.runId })
      .from(topKeysPerDungeon)
      .where(and(eq(topKeysPerDungeon.seasonId, 1), eq(topKeysPerDungeon.dungeonId, 2)))
      .orderBy(asc(topKeysPerDungeon.position));
    expect(perDungeon.map((r) => r.runId)).toEqual(
      expectedTop((r) => r.seasonId === 1 && r.dungeonId === 2),
    );

    const global = await t.db
      .select({ runId: topKeysGlobal.runId })
      .from(topKeysGlobal)
      .where(eq(topKeysGlobal.seasonId, 2))
      .orderBy(asc(topKeysGlobal.position));
    expect(global.map((r) => r.runId)).toEqual(expectedTop((r) => r.seasonId === 2));
    expect(global).toHaveLength(TOP_KEYS_LIMIT);
  });

  it('pick up a new best run on the next concurrent refresh, staying readable meanwhile', async () => {
    const [best] = await t.db
      .insert(leaderboardRun)
      .values({
        runGuid: randomUUID(),
        region: 'us',
        seasonId: 1,
        periodId: 1,
        dungeonId: 1,
        realmId: 1,
        completedAt: new Date(),
        durationMs: 1,
        keystoneLevel: 40,
        score: 999,
      })
      .returning();
    await refreshTopKeys(t.db);
    const [top] = await t.db
      .select()
      .from(topKeysGlobal)
      .where(eq(topKeysGlobal.seasonId, 1))
      .orderBy(asc(topKeysGlobal.position))
      .limit(1);
    expect(top?.runId).toBe(best?.id);
    expect(top?.keystoneLevel).toBe(40);
  });
});

describe('unranked runs (no level or no score)', () => {
  it('are left out of every view, as every other read leaves them out', async () => {
    // Where NULLS LAST used to rank them: a level above all others with no score.
    const unranked = await t.db
      .insert(leaderboardRun)
      .values(
        [
          { keystoneLevel: 45, score: null },
          { keystoneLevel: null, score: 1000 },
        ].map((r, i) => ({
          ...r,
          runGuid: randomUUID(),
          region: 'us',
          seasonId: 2,
          periodId: 3,
          dungeonId: 1,
          realmId: 1,
          completedAt: new Date(Date.UTC(2026, 1, 1, 0, 0, i)),
          durationMs: 1,
        })),
      )
      .returning({ id: leaderboardRun.id });
    await refreshTopKeys(t.db);
    const ids = unranked.map((r) => r.id);
    for (const view of [topKeysPerGroup, topKeysPerPeriod, topKeysPerDungeon, topKeysGlobal]) {
      const rows = await t.db.select({ runId: view.runId }).from(view).where(eq(view.seasonId, 2));
      expect(rows.filter((r) => ids.includes(r.runId))).toEqual([]);
    }
    const group = await t.db
      .select({ runId: topKeysPerGroup.runId })
      .from(topKeysPerGroup)
      .where(
        and(
          eq(topKeysPerGroup.seasonId, 2),
          eq(topKeysPerGroup.periodId, 3),
          eq(topKeysPerGroup.dungeonId, 1),
        ),
      )
      .orderBy(asc(topKeysPerGroup.position));
    expect(group.map((r) => r.runId)).toEqual(
      expectedTop((r) => r.seasonId === 2 && r.periodId === 3 && r.dungeonId === 1),
    );
  });
});
