import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { intervalSuffix } from '../../src/define/intervals.js';
import {
  killmailParticipants,
  killmailsEnriched,
  killmailsRaw,
} from '../../src/domains/killmails/tables.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

const now = new Date();
const firstOfMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
const halfPastMidnight = new Date(firstOfMonth.getTime() + 30 * 60_000);

let newYork: ReturnType<typeof drizzle>;
beforeAll(() => {
  // Under America/New_York a bound written without an offset would start at 04:00 or 05:00 UTC
  // and this killmail would land in the previous month (docs/postgres-behaviours.md#bounds-and-time-zones).
  newYork = drizzle(t.connect({ max: 1, connection: { TimeZone: 'America/New_York' } }));
});

const raw = (killmailId: number, killmailTime: Date) => ({
  killmailId,
  killmailTime,
  systemId: 30000142,
  shipTypeId: 587,
  rawPayload: { killmail_id: killmailId },
});

describe('killmail partitions', () => {
  it('puts a killmail at 00:30 UTC on the 1st into that month, under America/New_York', async () => {
    await newYork.insert(killmailsRaw).values(raw(1, halfPastMidnight));
    const rows = await t.sql<{ part: string }[]>`
      SELECT tableoid::regclass::text AS part FROM killmails_raw WHERE killmail_id = 1`;
    expect(rows).toEqual([{ part: `killmails_raw_${intervalSuffix('month', firstOfMonth)}` }]);
  });

  it('co-partitions enriched and participants with raw, and stores NPC attackers', async () => {
    await newYork.insert(killmailsRaw).values(raw(2, halfPastMidnight));
    await newYork.insert(killmailsEnriched).values({
      killmailId: 2,
      killmailTime: halfPastMidnight,
      iskValue: '1250000000.50',
      moduleTags: ['T2 Guns', 'Cloak'],
      enrichmentBlob: { fitted: [1, 2] },
    });
    await newYork.insert(killmailParticipants).values([
      {
        killmailId: 2,
        killmailTime: halfPastMidnight,
        position: 0,
        isVictim: true,
        characterId: 9001,
        damageTaken: 5000,
      },
      {
        killmailId: 2,
        killmailTime: halfPastMidnight,
        position: 1,
        isVictim: false,
        characterId: null,
        factionId: 500001,
        damageDone: 2500,
        finalBlow: true,
      },
      {
        killmailId: 2,
        killmailTime: halfPastMidnight,
        position: 2,
        isVictim: false,
        characterId: null,
        factionId: 500001,
        damageDone: 2500,
      },
    ]);
    const suffix = intervalSuffix('month', firstOfMonth);
    const rows = await t.sql<{ part: string; n: number }[]>`
      SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM (
        SELECT tableoid FROM killmails_enriched WHERE killmail_id = 2
        UNION ALL SELECT tableoid FROM killmail_participants WHERE killmail_id = 2) x
      GROUP BY 1 ORDER BY 1`;
    expect(rows).toEqual([
      { part: `killmail_participants_${suffix}`, n: 3 },
      { part: `killmails_enriched_${suffix}`, n: 1 },
    ]);
  });

  it('rejects enrichment of a killmail that raw does not hold at that time', async () => {
    const insert = newYork.insert(killmailsEnriched).values({
      killmailId: 2,
      killmailTime: new Date(halfPastMidnight.getTime() + 1000),
      iskValue: '1',
      moduleTags: [],
      enrichmentBlob: {},
    });
    await expect(insert).rejects.toMatchObject({ cause: { code: '23503' } });
  });

  it("refuses, with PostgreSQL's own message, a killmail for a month no partition covers", async () => {
    const insert = newYork.insert(killmailsRaw).values(raw(3, new Date('2001-01-01T00:00:00Z')));
    await expect(insert).rejects.toMatchObject({
      cause: {
        message: expect.stringContaining('no partition of relation "killmails_raw" found for row'),
      },
    });
  });
});
