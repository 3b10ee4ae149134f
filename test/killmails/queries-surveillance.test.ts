import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import {
  matchSurveillanceProfiles,
  surveillanceMatchesQuery,
} from '../../src/domains/killmails/queries/index.js';
import {
  addSurveillanceFilter,
  type SurveillanceFilter,
  surveillanceFilterSchema,
} from '../../src/domains/killmails/surveillance-filter.js';
import {
  killmailParticipants,
  killmailsEnriched,
  killmailsRaw,
  surveillanceFilters,
  surveillanceProfiles,
  users,
} from '../../src/domains/killmails/tables.js';
import { bulkLoad } from '../support/bulk-load.js';
import {
  explainQuery,
  indexesUsed,
  scannedPartitions,
  scanTypes,
} from '../support/explain-plan.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';
import { monthsOverlapping } from './queries-support.js';

const t = useTestDatabase();

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);
const PAST = new Date(
  addIntervals('month', intervalStart('month', NOW), -5).getTime() + 3 * 86_400_000,
);

interface Facts {
  id: number;
  time: Date;
  system: number;
  ship: number;
  isk: number | null;
  tags: string[];
  characters: number[];
  corporations: number[];
  alliances: number[];
}

/** Three killmails: two enriched (this month and five months ago), one not enriched yet. */
const KILLMAILS: Facts[] = [
  {
    id: 1001,
    time: new Date(NOW.getTime() - 60_000),
    system: 30000142,
    ship: 587,
    isk: 2_000_000_000,
    tags: ['cloak', 'covops', 'nullified'],
    characters: [91000001, 91000002, 91000003],
    corporations: [98000001, 98000002],
    alliances: [99000001],
  },
  {
    id: 1002,
    time: PAST,
    system: 30002187,
    ship: 11567,
    isk: 90_000_000_000,
    tags: ['capital', 'cloak'],
    characters: [91000002, 91000004],
    corporations: [98000003],
    alliances: [99000002, 99000003],
  },
  {
    id: 1003,
    time: new Date(NOW.getTime() - 120_000),
    system: 30000142,
    ship: 670,
    isk: null,
    tags: [],
    characters: [91000005],
    corporations: [98000001],
    alliances: [],
  },
];

/** Whether one filter matches a killmail: the rules, restated here independently of the SQL. */
function filterMatches(filter: SurveillanceFilter, k: Facts): boolean {
  const value = filter.value as { ids?: number[]; minIsk?: number; tags?: string[] };
  switch (filter.type) {
    case 'system':
      return value.ids?.includes(k.system) ?? false;
    case 'ship_type':
      return value.ids?.includes(k.ship) ?? false;
    case 'character':
      return k.characters.some((id) => value.ids?.includes(id));
    case 'corporation':
      return k.corporations.some((id) => value.ids?.includes(id));
    case 'alliance':
      return k.alliances.some((id) => value.ids?.includes(id));
    case 'min_isk':
      return k.isk !== null && k.isk >= (value.minIsk ?? 0);
    case 'module_tags':
      return k.isk !== null && (value.tags ?? []).every((tag) => k.tags.includes(tag));
  }
}

const profiles = new Map<number, SurveillanceFilter[]>();

function expectedMatches(k: Facts): number[] {
  return [...profiles]
    .filter(([, filters]) => filters.length > 0 && filters.every((f) => filterMatches(f, k)))
    .map(([id]) => id)
    .sort((a, b) => a - b);
}

/** A deterministic pseudo-random filter over small id spaces, so some noise profiles match. */
function noiseFilter(n: number): SurveillanceFilter {
  const pick = (base: number, span: number) => [base + (n % span), base + ((n * 7) % span)];
  switch (n % 7) {
    case 0:
      return { type: 'system', value: { ids: [30000000 + (n % 3000), 30000142 + (n % 40)] } };
    case 1:
      return { type: 'ship_type', value: { ids: [580 + (n % 20), 587 + (n % 30)] } };
    case 2:
      return { type: 'character', value: { ids: pick(91000000, 40) } };
    case 3:
      return { type: 'corporation', value: { ids: pick(98000000, 10) } };
    case 4:
      return { type: 'alliance', value: { ids: pick(99000000, 10) } };
    case 5:
      return { type: 'min_isk', value: { minIsk: (n % 100) * 1_000_000_000 } };
    default:
      return {
        type: 'module_tags',
        value: { tags: [['cloak', 'capital', 'covops', 'x'][n % 4] as string] },
      };
  }
}

beforeAll(async () => {
  for (const k of KILLMAILS) {
    await t.db.insert(killmailsRaw).values({
      killmailId: k.id,
      killmailTime: k.time,
      systemId: k.system,
      shipTypeId: k.ship,
      rawPayload: {},
    });
    if (k.isk !== null) {
      await t.db.insert(killmailsEnriched).values({
        killmailId: k.id,
        killmailTime: k.time,
        iskValue: String(k.isk),
        moduleTags: k.tags,
        enrichmentBlob: {},
      });
    }
    const width = Math.max(k.characters.length, k.corporations.length, k.alliances.length);
    await t.db.insert(killmailParticipants).values(
      Array.from({ length: width + 1 }, (_, position) => ({
        killmailId: k.id,
        killmailTime: k.time,
        position,
        isVictim: position === 0,
        // The last participant is an NPC: no ids at all.
        characterId: k.characters[position] ?? null,
        corporationId: k.corporations[position] ?? null,
        allianceId: k.alliances[position] ?? null,
      })),
    );
  }
  // Other killmails in the same months, so the lookups have real partitions to pick a row from
  // (their foreign keys checked once after the load: bulk-load.ts).
  await bulkLoad(t.sql, async (bulk) => {
    for (const k of [KILLMAILS[0], KILLMAILS[1]] as Facts[]) {
      const base = k.id * 100_000;
      await bulk`
      INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
      SELECT ${base} + n, ${k.time.toISOString()}::timestamptz - n * interval '1 second',
             30000000 + n % 3000, 580 + n % 50, '{}'
      FROM generate_series(1, 20000) n`;
      await bulk`
      INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
      SELECT killmail_id, killmail_time, killmail_id % 1000000, ARRAY['cloak'], '{}'
      FROM killmails_raw WHERE killmail_id > ${base}`;
      await bulk`
      INSERT INTO killmail_participants (killmail_id, killmail_time, position, is_victim,
                                         character_id, corporation_id, alliance_id)
      SELECT killmail_id, killmail_time, pos, pos = 0, 91000000 + (killmail_id + pos) % 40,
             98000000 + killmail_id % 10, 99000000 + killmail_id % 10
      FROM killmails_raw, generate_series(0, 2) pos WHERE killmail_id > ${base}`;
    }
  });
  const [user] = await t.db.insert(users).values({ name: 'watcher' }).returning();
  const userId = user?.id as number;
  // 4000 noise profiles of one to three filters each, validated like any write.
  const noise = await t.db
    .insert(surveillanceProfiles)
    .values(Array.from({ length: 4000 }, (_, n) => ({ userId, name: `noise ${n}` })))
    .returning();
  const rows = noise.flatMap((p, n) =>
    Array.from({ length: 1 + (n % 3) }, (_, j) => {
      const filter = surveillanceFilterSchema.parse(noiseFilter(n * 3 + j));
      profiles.set(p.id, [...(profiles.get(p.id) ?? []), filter]);
      return { profileId: p.id, orderIndex: j, filterType: filter.type, value: filter.value };
    }),
  );
  for (let i = 0; i < rows.length; i += 2000) {
    await t.db.insert(surveillanceFilters).values(rows.slice(i, i + 2000));
  }
  // Hand-made profiles, through the public write path.
  const cases: [string, SurveillanceFilter[]][] = [
    ['jita', [{ type: 'system', value: { ids: [30000142] } }]],
    [
      'jita rich',
      [
        { type: 'system', value: { ids: [30000142] } },
        { type: 'min_isk', value: { minIsk: 1e9 } },
      ],
    ],
    [
      'jita too rich',
      [
        { type: 'system', value: { ids: [30000142] } },
        { type: 'min_isk', value: { minIsk: 5e9 } },
      ],
    ],
    ['a victim or attacker', [{ type: 'character', value: { ids: [91000003, 1] } }]],
    [
      'corp in a frigate',
      [
        { type: 'corporation', value: { ids: [98000002] } },
        { type: 'ship_type', value: { ids: [587] } },
      ],
    ],
    ['alliance elsewhere', [{ type: 'alliance', value: { ids: [99000009] } }]],
    ['covert cloakers', [{ type: 'module_tags', value: { tags: ['covops', 'cloak'] } }]],
    ['cloak and capital', [{ type: 'module_tags', value: { tags: ['capital', 'cloak'] } }]],
    ['empty profile', []],
    ['trade hubs', [{ type: 'system', value: { ids: [30002187, 30000142, 30002659] } }]],
  ];
  for (const [name, filters] of cases) {
    const [profile] = await t.db.insert(surveillanceProfiles).values({ userId, name }).returning();
    const id = profile?.id as number;
    profiles.set(id, []);
    for (const filter of filters) {
      await addSurveillanceFilter(t.db, { profileId: id, filter });
      profiles.get(id)?.push(surveillanceFilterSchema.parse(filter));
    }
  }
  await t.sql`VACUUM ANALYZE`;
}, 180_000);

describe('matchSurveillanceProfiles', () => {
  it('returns exactly the profiles whose every filter matches, for each killmail', async () => {
    for (const k of KILLMAILS) {
      const matches = await matchSurveillanceProfiles(t.db, {
        killmailId: k.id,
        killmailTime: k.time,
      });
      const expected = expectedMatches(k);
      expect(
        matches.map((m) => m.profileId),
        `killmail ${k.id}`,
      ).toEqual(expected);
      expect(expected.length).toBeGreaterThan(2);
    }
    const named = async (k: Facts) =>
      (await matchSurveillanceProfiles(t.db, { killmailId: k.id, killmailTime: k.time }))
        .map((m) => m.name)
        .filter((n) => !n.startsWith('noise'));
    expect(await named(KILLMAILS[0] as Facts)).toEqual([
      'jita',
      'jita rich',
      'a victim or attacker',
      'corp in a frigate',
      'covert cloakers',
      'trade hubs',
    ]);
    expect(await named(KILLMAILS[1] as Facts)).toEqual(['cloak and capital', 'trade hubs']);
    // Not enriched yet: ISK and tag filters cannot match it.
    expect(await named(KILLMAILS[2] as Facts)).toEqual(['jita', 'trade hubs']);
  });

  it('reads each killmail table in the killmail month only, and the filters through GIN', async () => {
    for (const k of [KILLMAILS[0], KILLMAILS[1]] as Facts[]) {
      const plan = await explainQuery(
        t.db,
        surveillanceMatchesQuery({ killmailId: k.id, killmailTime: k.time }),
      );
      const month = (table: string) =>
        monthsOverlapping(table, k.time, new Date(k.time.getTime() + 1));
      for (const table of ['killmails_raw', 'killmails_enriched', 'killmail_participants']) {
        expect(scannedPartitions(plan, table), table).toEqual(month(table));
        // One-row probes: the key (killmail_id, killmail_time), or a time index, which pins the
        // same row by killmail_time = $t (and for enriched killmail_id); never a scan of the month.
        for (const index of indexesUsed(plan, table)) {
          const probes = [`${table}_pkey`, 'idx_killmails_raw_time', 'idx_killmails_enriched_time'];
          expect(probes, table).toContain(index);
        }
      }
      expect(indexesUsed(plan, 'surveillance_filters')).toContain('idx_surveillance_filters_value');
      for (const table of ['surveillance_filters', 'surveillance_profiles']) {
        expect(scanTypes(plan, table), table).not.toContain('Seq Scan');
      }
    }
  });

  it('finds nothing for a killmail that does not exist', async () => {
    expect(await matchSurveillanceProfiles(t.db, { killmailId: 1001, killmailTime: PAST })).toEqual(
      [],
    );
  });
});

describe('addSurveillanceFilter', () => {
  const count = async () =>
    (await t.db.select({ n: sql<number>`count(*)::int` }).from(surveillanceFilters))[0]?.n;

  it('validates the value against its type and writes nothing on bad input', async () => {
    const before = await count();
    const bad: unknown[] = [
      { type: 'system', value: { ids: [] } },
      { type: 'system', value: { ids: ['30000142'] } },
      { type: 'system', value: { ids: [1], extra: true } },
      { type: 'min_isk', value: { minIsk: -1 } },
      { type: 'min_isk', value: { ids: [1] } },
      { type: 'module_tags', value: { tags: [''] } },
      { type: 'faction', value: { ids: [1] } },
    ];
    for (const filter of bad) {
      expectPgpartsError(
        await rejection(addSurveillanceFilter(t.db, { profileId: 1, filter: filter as never })),
        'invalid-input',
        { message: /invalid input for addSurveillanceFilter:\n {2}- filter/ },
      );
    }
    expect(await count()).toBe(before);
  });

  it('appends in order, normalises ids, and says what to do on a missing profile or a taken slot', async () => {
    const row = await addSurveillanceFilter(t.db, {
      profileId: 1,
      filter: { type: 'character', value: { ids: [5, 3, 5] } },
    });
    expect(row.value).toEqual({ ids: [3, 5] });
    expect(row.orderIndex).toBe(profiles.get(1)?.length);
    expectPgpartsError(
      await rejection(
        addSurveillanceFilter(t.db, {
          profileId: 999_999,
          filter: { type: 'system', value: { ids: [1] } },
        }),
      ),
      'invalid-input',
      { message: /surveillance profile 999999 does not exist; create the profile first/ },
    );
    expectPgpartsError(
      await rejection(
        addSurveillanceFilter(t.db, {
          profileId: 1,
          orderIndex: 0,
          filter: { type: 'system', value: { ids: [1] } },
        }),
      ),
      'invalid-input',
      { message: /already has a filter at orderIndex 0/ },
    );
  });
});
