import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import {
  killsInSystem,
  killsInSystemQuery,
  killsInvolving,
  killsInvolvingQuery,
  killsOfShipTypeQuery,
  killsWithEnrichmentQuery,
  killsWithModuleTagsQuery,
  killsWorthAtLeastQuery,
  LATEST_FIRST_TRY_MS,
  latestKillmails,
  latestKillmailsQuery,
  utcDay,
} from '../../src/domains/killmails/queries/index.js';
import { bulkLoad } from '../support/bulk-load.js';
import {
  explainAnalyze,
  explainQuery,
  indexesUsed,
  planNodes,
  scannedPartitions,
  scanTypes,
} from '../support/explain-plan.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';
import { allMonths, DAY, HOUR, monthsOverlapping } from './queries-support.js';

const t = useTestDatabase();

/** The clock every query here runs at, so windows and expectations agree. */
// The clock the data and windows are built around: now, but at least eight days into the month,
// so the hour, day and week windows lie in one month whose partition holds days of data (early in
// a month the planner rightly reads a nearly empty partition by its time index instead).
const CLOCK = Math.floor(Date.now() / 1000) * 1000;
const NOW = new Date(
  Math.max(CLOCK, intervalStart('month', new Date(CLOCK)).getTime() + 8 * 24 * 3_600_000),
);
const FIRST_MONTH = addIntervals('month', intervalStart('month', NOW), -12);
/** Killmails spread evenly over the 13 months up to two hours ago... */
const SPREAD = 60_000;
/** ...and a burst in the last two hours, a tenth of it in JITA. */
const RECENT = 3_000;
const JITA = 30000142;
const CHARACTER = 90000042;

const RAW = 'killmails_raw';
const ENRICHED = 'killmails_enriched';
const PARTICIPANTS = 'killmail_participants';

interface Km {
  id: number;
  time: Date;
  systemId: number;
  shipTypeId: number;
}

/** Rows read back through the plain client (whose date parsing drizzle replaced: strings). */
async function killmails(where: string, params: (string | number)[] = []): Promise<Km[]> {
  const rows = await t.sql.unsafe<(Km & { time: string })[]>(
    `SELECT killmail_id::int AS id, killmail_time AS time, system_id::int AS "systemId",
            ship_type_id::int AS "shipTypeId" FROM killmails_raw WHERE ${where}`,
    params,
  );
  return rows.map((r) => ({ ...r, time: new Date(r.time) }));
}

/** Newest first, the order every feed returns, computed here. */
const newest = (a: { time: Date; id: number }, b: { time: Date; id: number }) =>
  b.time.getTime() - a.time.getTime() || b.id - a.id;

beforeAll(async () => {
  // The rows' foreign keys are checked once after the load (bulk-load.ts).
  await bulkLoad(t.sql, async (bulk) => {
    const spanSeconds = Math.floor((NOW.getTime() - 2 * HOUR - FIRST_MONTH.getTime()) / 1000);
    await bulk`
    INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
    SELECT n, ${FIRST_MONTH.toISOString()}::timestamptz + (n::bigint * ${spanSeconds} / ${SPREAD}) * interval '1 second',
           30000000 + (n::bigint * 7919) % 500, 580 + (n::bigint * 104729) % 60, '{}'
    FROM generate_series(1, ${SPREAD}) n`;
    await bulk`
    INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
    SELECT ${SPREAD} + n, ${NOW.toISOString()}::timestamptz - (n * 2) * interval '1 second',
           CASE WHEN n % 10 = 0 THEN ${JITA} ELSE 30000000 + (n::bigint * 7919) % 500 END,
           580 + (n::bigint * 104729) % 60, '{}'
    FROM generate_series(1, ${RECENT}) n`;
    await bulk`
    INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
    SELECT killmail_id, killmail_time, (killmail_id * 2654435761) % 10000000000,
           ARRAY['t' || killmail_id % 5, 't' || 5 + killmail_id % 7, 't' || 12 + killmail_id % 3],
           jsonb_build_object('solo', killmail_id % 4 = 0, 'region', killmail_id % 20,
                              'victim', jsonb_build_object('corp', killmail_id % 50))
    FROM killmails_raw`;
    // Victim at position 0, three attackers; one in five killmails has an NPC (no ids) at 3.
    await bulk`
    INSERT INTO killmail_participants (killmail_id, killmail_time, position, is_victim,
                                       character_id, corporation_id, alliance_id, damage_done)
    SELECT killmail_id, killmail_time, pos, pos = 0, c, 98000000 + c % 1000,
           CASE WHEN c % 7 = 0 THEN NULL ELSE 99000000 + (c % 1000) % 100 END, pos * 100
    FROM killmails_raw, generate_series(0, 3) pos,
         LATERAL (SELECT CASE WHEN pos = 3 AND killmail_id % 5 = 0 THEN NULL
                              ELSE 90000000 + (killmail_id * 31 + pos * 104729) % 20000 END AS c) x`;
  });
  await t.sql`VACUUM ANALYZE`;
}, 300_000);

describe('the database under test', () => {
  it('has at least 13 monthly partitions per table, and rows in 13 of them', async () => {
    const [row] = await t.sql<{ n: number; filled: number }[]>`
      SELECT (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'killmails_raw'::regclass) AS n,
             (SELECT count(DISTINCT tableoid)::int FROM killmails_raw) AS filled`;
    expect(row?.n).toBe(16);
    expect(row?.filled).toBe(13);
  });
});

describe('latestKillmails', () => {
  it('pages newest first through the cursor, matching an independent sort', async () => {
    const expected = (
      await killmails(`killmail_time >= $1`, [new Date(NOW.getTime() - 3 * HOUR).toISOString()])
    )
      .sort(newest)
      .slice(0, 120);
    const page1 = await latestKillmailsQuery(t.db, { limit: 60 });
    const last = page1.at(-1);
    const page2 = await latestKillmailsQuery(t.db, {
      limit: 60,
      before: { killmailTime: last?.killmailTime as Date, killmailId: last?.killmailId as number },
    });
    expect([...page1, ...page2].map((r) => r.killmailId)).toEqual(expected.map((r) => r.id));
  });

  it('reads only the newest months: the LIMIT stops the ordered scan before older ones', async () => {
    const plan = await explainAnalyze(t.db, latestKillmailsQuery(t.db, { limit: 50 }));
    expect(plan.plan['Node Type']).toBe('Limit');
    const current = monthsOverlapping(RAW, NOW, new Date(NOW.getTime() + 1));
    const future = monthsOverlapping(
      RAW,
      addIntervals('month', intervalStart('month', NOW), 1),
      addIntervals('month', intervalStart('month', NOW), 4),
    );
    expect(scannedPartitions(plan, RAW)).toEqual([...current, ...future].sort());
    expect(indexesUsed(plan, RAW)).toEqual(['idx_killmails_raw_time']);
  });

  it('tries the day before the cursor first, and reads all time when that day is short', async () => {
    // The spread holds ~150 killmails a day: a day before the cursor fills a page of 50 (the
    // first try answers), not one of 500 (the rest comes from before that day).
    const cursor = { killmailTime: new Date(FIRST_MONTH.getTime() + 100 * DAY), killmailId: 1 };
    const before = (
      await killmails('killmail_time <= $1', [cursor.killmailTime.toISOString()])
    ).sort(newest);
    for (const limit of [50, 500]) {
      const page = await latestKillmails(t.db, { limit, before: cursor });
      expect(page.map((r) => r.killmailId)).toEqual(before.slice(0, limit).map((r) => r.id));
      const oldest = page.at(-1)?.killmailTime.getTime() ?? 0;
      expect(cursor.killmailTime.getTime() - oldest > DAY, `limit ${limit}`).toBe(limit === 500);
    }
    // The first try's plan keeps the cursor's month and the one before it at most.
    const plan = await explainQuery(
      t.db,
      latestKillmailsQuery(
        t.db,
        { before: cursor },
        new Date(cursor.killmailTime.getTime() - LATEST_FIRST_TRY_MS),
      ),
    );
    expect(scannedPartitions(plan, RAW)).toEqual(
      monthsOverlapping(
        RAW,
        new Date(cursor.killmailTime.getTime() - DAY),
        new Date(cursor.killmailTime.getTime() + 1),
      ),
    );
  });

  it('with a cursor in the past, prunes every newer month at plan time', async () => {
    const cursorTime = addIntervals('month', intervalStart('month', NOW), -5);
    const plan = await explainQuery(
      t.db,
      latestKillmailsQuery(t.db, {
        before: { killmailTime: new Date(cursorTime.getTime() + 10 * DAY), killmailId: 1 },
      }),
    );
    expect(scannedPartitions(plan, RAW)).toEqual(
      monthsOverlapping(RAW, FIRST_MONTH, addIntervals('month', cursorTime, 1)),
    );
    expect(scanTypes(plan, RAW)).not.toContain('Seq Scan');
  });
});

describe('killsInSystem', () => {
  it('returns the last hour in the system, newest first (the default window)', async () => {
    const from = new Date(NOW.getTime() - HOUR);
    const expected = (await killmails('system_id = $1', [JITA]))
      .filter((k) => k.time >= from && k.time < NOW)
      .sort(newest);
    expect(expected.length).toBeGreaterThan(100);
    const rows = await killsInSystemQuery(t.db, { systemId: JITA, limit: 500 }, NOW);
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((k) => k.id));
  });

  it('scans only the months the window overlaps, through the system index', async () => {
    const hour = await explainQuery(t.db, killsInSystemQuery(t.db, { systemId: JITA }, NOW));
    expect(scannedPartitions(hour, RAW)).toEqual(
      monthsOverlapping(RAW, new Date(NOW.getTime() - HOUR), NOW),
    );
    expect(indexesUsed(hour, RAW)).toEqual(['idx_killmails_raw_system_time']);

    const from = addIntervals('month', intervalStart('month', NOW), -7);
    const to = new Date(addIntervals('month', from, 2).getTime() + 3 * DAY);
    const system = 30000000 + 77;
    const months = await explainQuery(
      t.db,
      killsInSystemQuery(t.db, { systemId: system, from, to }),
    );
    expect(scannedPartitions(months, RAW)).toEqual(monthsOverlapping(RAW, from, to));
    expect(scannedPartitions(months, RAW)).toHaveLength(3);
    expect(scanTypes(months, RAW)).not.toContain('Seq Scan');
    const rows = await killsInSystemQuery(t.db, { systemId: system, from, to, limit: 500 });
    const expected = (await killmails('system_id = $1', [system]))
      .filter((k) => k.time >= from && k.time < to)
      .sort(newest);
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((k) => k.id));
  });

  it('refuses an empty window and malformed input, before any query', async () => {
    expectPgpartsError(
      await rejection(killsInSystem(t.db, { systemId: JITA, from: NOW, to: NOW })),
      'invalid-input',
      { message: /invalid input for killsInSystem: the window is empty/ },
    );
    expectPgpartsError(await rejection(killsInSystem(t.db, { systemId: -1 })), 'invalid-input', {
      message: /systemId/,
    });
    expectPgpartsError(
      await rejection(killsInSystem(t.db, { systemId: JITA, from: '2026-01-01 00:00' as never })),
      'invalid-input',
      { message: /from/ },
    );
  });
});

describe('killsOfShipType', () => {
  it('returns today (UTC) for the ship type, from one partition through its index', async () => {
    const day = utcDay(NOW);
    const ship = 600;
    const rows = await killsOfShipTypeQuery(t.db, { shipTypeId: ship, limit: 500 }, NOW);
    const expected = (await killmails('ship_type_id = $1', [ship]))
      .filter((k) => k.time >= day.from && k.time < day.to)
      .sort(newest);
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((k) => k.id));
    const plan = await explainQuery(t.db, killsOfShipTypeQuery(t.db, { shipTypeId: ship }, NOW));
    expect(scannedPartitions(plan, RAW)).toEqual(monthsOverlapping(RAW, day.from, day.to));
    expect(indexesUsed(plan, RAW)).toEqual(['idx_killmails_raw_ship_type_time']);
  });
});

describe('killsInvolving', () => {
  it("pages a character's killmails newest first, one row per killmail", async () => {
    const expected = (
      await t.sql<{ id: number; time: string; victim: boolean }[]>`
        SELECT killmail_id::int AS id, killmail_time AS time, bool_or(is_victim) AS victim
        FROM killmail_participants WHERE character_id = ${CHARACTER}
        GROUP BY 1, 2`
    )
      .map((r) => ({ ...r, time: new Date(r.time) }))
      .sort(newest);
    expect(expected.length).toBeGreaterThan(6);
    const page1 = await killsInvolvingQuery(t.db, { kind: 'character', id: CHARACTER, limit: 4 });
    const last = page1.at(-1);
    const page2 = await killsInvolvingQuery(t.db, {
      kind: 'character',
      id: CHARACTER,
      limit: 500,
      before: { killmailTime: last?.killmailTime as Date, killmailId: last?.killmailId as number },
    });
    const rows = [...page1, ...page2];
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((e) => e.id));
    expect(rows.map((r) => r.asVictim)).toEqual(expected.map((e) => e.victim));
  });

  it("groups a corporation's several attackers into one row per killmail", async () => {
    const corp = 98000000 + 42;
    const expected = await t.sql<{ id: number; n: number }[]>`
      SELECT killmail_id::int AS id, count(*)::int AS n, max(killmail_time) AS time
      FROM killmail_participants WHERE corporation_id = ${corp} GROUP BY killmail_id
      ORDER BY time DESC, id DESC LIMIT 200`;
    const rows = await killsInvolvingQuery(t.db, { kind: 'corporation', id: corp, limit: 200 });
    expect(rows.map((r) => [r.killmailId, r.participants])).toEqual(
      expected.map((e) => [e.id, e.n]),
    );
  });

  it('cannot prune across all time: per-month index scans in order, cut short by the LIMIT', async () => {
    const plan = await explainAnalyze(
      t.db,
      killsInvolvingQuery(t.db, { kind: 'alliance', id: 99000000 + 7, limit: 20 }),
    );
    expect(plan.plan['Node Type']).toBe('Limit');
    // Limit > Aggregate (streaming: the rows arrive grouped, no sort, no hash) > an ordered
    // Append of the months, newest first (or a Merge Append) > one index scan per month.
    const [aggregate] = plan.plan.Plans ?? [];
    expect(aggregate?.['Node Type']).toBe('Aggregate');
    expect(aggregate?.Strategy).toBe('Sorted');
    expect(['Append', 'Merge Append']).toContain(aggregate?.Plans?.[0]?.['Node Type']);
    const all = plan.scans.filter((s) => s.table === PARTICIPANTS);
    // Planned on every month (nothing to prune with)...
    expect([...new Set(all.map((s) => s.relation))].sort()).toEqual(allMonths(PARTICIPANTS, NOW));
    // ...each through the partial alliance index, never a sequential scan...
    expect(indexesUsed(plan, PARTICIPANTS)).toEqual(['idx_killmail_participants_alliance']);
    for (const type of scanTypes(plan, PARTICIPANTS)) {
      expect(['Index Scan', 'Index Only Scan']).toContain(type);
    }
    // ...and the LIMIT is met in the newest months: the older ones are never read.
    const executed = scannedPartitions(plan, PARTICIPANTS);
    expect(executed.length).toBeLessThan(all.length);
    expect(executed).not.toContain(allMonths(PARTICIPANTS, NOW)[0]);
  });

  it('with a window, prunes to its months', async () => {
    const from = addIntervals('month', intervalStart('month', NOW), -3);
    const to = addIntervals('month', from, 1);
    const plan = await explainQuery(
      t.db,
      killsInvolvingQuery(t.db, { kind: 'character', id: CHARACTER, from, to }),
    );
    expect(scannedPartitions(plan, PARTICIPANTS)).toEqual(
      monthsOverlapping(PARTICIPANTS, from, to),
    );
    expect(indexesUsed(plan, PARTICIPANTS)).toEqual(['idx_killmail_participants_character']);
  });

  it('refuses an empty window (from not before to), as the other window queries do', async () => {
    // It returned no rows, as if the entity had none.
    const to = addIntervals('month', intervalStart('month', NOW), -3);
    const from = addIntervals('month', to, 1);
    expectPgpartsError(
      await rejection(killsInvolving(t.db, { kind: 'character', id: CHARACTER, from, to })),
      'invalid-input',
      { message: /invalid input for killsInvolving:[\s\S]*the window is empty: pass from < to/ },
    );
  });
});

describe('enrichment queries', () => {
  const week = { from: new Date(NOW.getTime() - 7 * DAY), to: NOW };

  async function enriched(where: string, params: unknown[]) {
    const rows = (
      await t.sql.unsafe<{ id: number; time: string; isk: string }[]>(
        `SELECT killmail_id::int AS id, killmail_time AS time, isk_value::text AS isk
         FROM killmails_enriched WHERE ${where}`,
        params as never[],
      )
    ).map((r) => ({ ...r, time: new Date(r.time) }));
    return rows.filter((r) => r.time >= week.from && r.time < week.to);
  }

  it("killsWorthAtLeast: most valuable first, the window's months only, the ISK index", async () => {
    const minIsk = '9900000000';
    const rows = await killsWorthAtLeastQuery(t.db, { minIsk, ...week, limit: 500 });
    const expected = (await enriched('isk_value >= $1', [minIsk])).sort(
      (a, b) => Number(b.isk) - Number(a.isk) || newest(a, b),
    );
    expect(expected.length).toBeGreaterThan(3);
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((e) => e.id));
    const plan = await explainQuery(t.db, killsWorthAtLeastQuery(t.db, { minIsk, ...week }));
    expect(scannedPartitions(plan, ENRICHED)).toEqual(
      monthsOverlapping(ENRICHED, week.from, week.to),
    );
    expect(indexesUsed(plan, ENRICHED)).toEqual(['idx_killmails_enriched_isk_value']);
  });

  it("killsWithModuleTags: all tags present, through the GIN index of the window's months", async () => {
    const tags = ['t3', 't9', 't13'];
    const rows = await killsWithModuleTagsQuery(t.db, { tags, ...week, limit: 500 });
    const expected = (await enriched('module_tags @> $1::text[]', [tags])).sort(newest);
    expect(expected.length).toBeGreaterThan(3);
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((e) => e.id));
    expect(rows.every((r) => tags.every((tag) => r.moduleTags.includes(tag)))).toBe(true);
    const plan = await explainQuery(t.db, killsWithModuleTagsQuery(t.db, { tags, ...week }));
    expect(scannedPartitions(plan, ENRICHED)).toEqual(
      monthsOverlapping(ENRICHED, week.from, week.to),
    );
    expect(indexesUsed(plan, ENRICHED)).toEqual(['idx_killmails_enriched_module_tags']);
  });

  it('a common tag or fragment walks the window newest first and stops at the limit', async () => {
    const cases = [
      [
        'tag t0',
        killsWithModuleTagsQuery(t.db, { tags: ['t0'], ...week, limit: 20 }),
        'module_tags @> $1::text[]',
        [['t0']],
      ],
      [
        'fragment solo',
        killsWithEnrichmentQuery(t.db, { fragment: { solo: true }, ...week, limit: 20 }),
        'enrichment_blob @> $1::jsonb',
        ['{"solo":true}'],
      ],
    ] as const;
    for (const [label, query, where, params] of cases) {
      const expected = (await enriched(where, [...params])).sort(newest).slice(0, 20);
      expect(
        (await query).map((r) => r.killmailId),
        label,
      ).toEqual(expected.map((e) => e.id));
      const plan = await explainQuery(t.db, query, { analyze: true });
      expect(indexesUsed(plan, ENRICHED), label).toEqual(['idx_killmails_enriched_time']);
      // A fifth or a quarter of the rows match: about 100 read for 20, not the week's thousands.
      const read = planNodes(plan.plan)
        .filter((n) => n['Index Name']?.startsWith('killmails_enriched_'))
        .reduce(
          (sum, n) => sum + Number(n['Actual Rows']) + Number(n['Rows Removed by Filter'] ?? 0),
          0,
        );
      expect(read, label).toBeLessThan(200);
    }
  });

  it('killsWorthAtLeast checks the window inside the ISK index, fetching only what it returns', async () => {
    const query = killsWorthAtLeastQuery(t.db, { minIsk: '1000000000', ...week, limit: 20 });
    const plan = await explainQuery(t.db, query, { analyze: true });
    const scans = planNodes(plan.plan).filter((n) => n['Node Type'] === 'Index Scan');
    expect(scans.length).toBeGreaterThan(0);
    for (const scan of scans) {
      expect(String(scan['Index Cond'])).toMatch(/killmail_time/);
      expect(scan['Rows Removed by Filter'] ?? 0).toBe(0);
    }
  });

  it('killsWithEnrichment: JSON containment through the jsonb_path_ops index', async () => {
    const fragment = { solo: true, victim: { corp: 12 } };
    const rows = await killsWithEnrichmentQuery(t.db, { fragment, ...week, limit: 500 });
    const expected = (
      await enriched('enrichment_blob @> $1::jsonb', [JSON.stringify(fragment)])
    ).sort(newest);
    expect(expected.length).toBeGreaterThan(3);
    expect(rows.map((r) => r.killmailId)).toEqual(expected.map((e) => e.id));
    const plan = await explainQuery(t.db, killsWithEnrichmentQuery(t.db, { fragment, ...week }));
    expect(scannedPartitions(plan, ENRICHED)).toEqual(
      monthsOverlapping(ENRICHED, week.from, week.to),
    );
    expect(indexesUsed(plan, ENRICHED)).toEqual(['idx_killmails_enriched_blob']);
    expectPgpartsError(
      await rejection(
        Promise.resolve().then(() => killsWithEnrichmentQuery(t.db, { fragment: 'solo' as never })),
      ),
      'invalid-input',
      { message: /fragment/ },
    );
  });
});

describe('a session far from UTC (docs/postgres-behaviours.md#bounds-and-time-zones)', () => {
  it('gets the same rows and the same partitions: windows are sent as UTC instants', async () => {
    const ny = drizzle(t.connect({ max: 1, connection: { TimeZone: 'America/New_York' } }));
    for (const [db, label] of [
      [t.db, 'UTC'],
      [ny, 'New York'],
    ] as const) {
      const day = utcDay(NOW);
      const rows = await killsOfShipTypeQuery(db, { shipTypeId: 600, limit: 500 }, NOW);
      const expected = (await killmails('ship_type_id = $1', [600]))
        .filter((k) => k.time >= day.from && k.time < day.to)
        .sort(newest);
      expect(
        rows.map((r) => r.killmailId),
        label,
      ).toEqual(expected.map((k) => k.id));
      const plan = await explainQuery(db, killsOfShipTypeQuery(db, { shipTypeId: 600 }, NOW));
      expect(scannedPartitions(plan, RAW), label).toEqual(monthsOverlapping(RAW, day.from, day.to));
    }
  });
});

describe('pruning under a generic plan (prepared statement, parameters unknown at plan time)', () => {
  it("keeps only the window's months, at executor start", async () => {
    const client = t.connect({ max: 1 });
    await client`SET plan_cache_mode = force_generic_plan`;
    const query = killsInSystemQuery(t.db, { systemId: JITA, limit: 5 }, NOW).toSQL();
    await client.unsafe(`PREPARE kills_in_system AS ${query.sql}`);
    // EXECUTE takes literals: numbers as they are, the (already ISO) times quoted.
    const params = query.params.map((p) =>
      typeof p === 'number' ? String(p) : `'${String(p).replaceAll("'", "''")}'`,
    );
    const [row] = await client.unsafe(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) EXECUTE kills_in_system(${params.join(', ')})`,
    );
    const text = JSON.stringify(row);
    const expected = monthsOverlapping(RAW, new Date(NOW.getTime() - HOUR), NOW);
    expect(text).toContain(`"Subplans Removed":${16 - expected.length}`);
    const relations = [...text.matchAll(/"Relation Name":"(\w+)"/g)].map((m) => m[1]);
    expect([...new Set(relations)].sort()).toEqual(expected);
    await client.end();
  });
});

describe('the prepared path ({ prepare: true }) on a session with generic plans', () => {
  it('returns the same rows as the unnamed query, from one generic plan pruned at executor start', async () => {
    const client = t.connect({ max: 1, connection: { plan_cache_mode: 'force_generic_plan' } });
    const db = drizzle(client);
    const hours = [1, 30, 24 * 40, 24 * 200];
    for (const h of hours) {
      const input = { systemId: JITA, to: new Date(NOW.getTime() - (h - 1) * HOUR), limit: 5 };
      const window = { ...input, from: new Date(input.to.getTime() - HOUR) };
      const prepared = await killsInSystem(db, window, { prepare: true });
      expect(prepared).toEqual(await killsInSystem(t.db, window));
      // The last hour has JITA's burst; older hours, rows or none, must agree all the same.
      if (h === 1) expect(prepared.length).toBeGreaterThan(0);
    }
    // One named statement, planned once (generically) and reused by every call.
    const text = killsInSystemQuery(db, { systemId: JITA, limit: 5 }, NOW).toSQL();
    const [statement] = await client<{ name: string; generic: number; custom: number }[]>`
      SELECT name, generic_plans::int AS generic, custom_plans::int AS custom
      FROM pg_prepared_statements WHERE statement = ${text.sql}`;
    expect(statement).toMatchObject({ generic: hours.length, custom: 0 });
    // The same statement, EXPLAINed with values: the other months go when it starts running.
    const params = text.params.map((p) =>
      typeof p === 'number' ? String(p) : `'${String(p).replaceAll("'", "''")}'`,
    );
    const [row] = await client.unsafe(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) EXECUTE "${statement?.name}"(${params.join(', ')})`,
    );
    const plan = JSON.stringify(row);
    const expected = monthsOverlapping(RAW, new Date(NOW.getTime() - HOUR), NOW);
    expect(plan).toContain(`"Subplans Removed":${16 - expected.length}`);
    const relations = [...plan.matchAll(/"Relation Name":"(\w+)"/g)].map((m) => m[1]);
    expect([...new Set(relations)].sort()).toEqual(expected);
    await client.end();
  });
});
