import type postgres from 'postgres';
import { BenchError } from './bench-error.js';
import { MODULE_TAGS, SECURITY, SHIP_GROUPS } from './generate/scale.js';

/**
 * Query parameters sampled from the data: half drawn from rows (so weighted towards the hot
 * systems, ship types and characters, as real traffic is), half uniform over the lookup tables
 * (mostly the cold tail). Windows are anchored on the data's clock `now`, not the wall clock, so
 * a kept data set still has "the last hour".
 */
export interface Params {
  now: Date;
  seasons: number[];
  periods: { seasonId: number; periodId: number }[];
  dungeons: number[];
  runs: { seasonId: number; runGuid: string }[];
  players: { seasonId: number; characterName: string }[];
  killmails: { killmailId: number; killmailTime: Date }[];
  systems: number[];
  shipTypes: number[];
  characters: number[];
  corporations: number[];
  alliances: number[];
  names: string[];
  minIsk: string[];
  tags: string[][];
  fragments: Record<string, string | boolean | Record<string, string>>[];
}

const N = 200;

function shuffle<T>(items: T[], seed = 7): T[] {
  let x = seed;
  const out = [...items];
  for (let i = out.length - 1; i > 0; i -= 1) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

async function ids(sql: postgres.Sql, query: string): Promise<number[]> {
  const rows = await sql.unsafe<{ id: string }[]>(query);
  return rows.map((r) => Number(r.id));
}

/** Half from rows of `from` (hot-weighted), half uniform over `lookup` (cold tail included). */
async function mixed(sql: postgres.Sql, column: string, from: string, lookup: string) {
  const hot = await ids(
    sql,
    `SELECT ${column} AS id FROM ${from} TABLESAMPLE BERNOULLI (0.1) REPEATABLE (42)
     WHERE ${column} IS NOT NULL ORDER BY random() LIMIT ${N / 2}`,
  );
  const cold = await ids(sql, `SELECT id FROM ${lookup} ORDER BY random() LIMIT ${N / 2}`);
  return shuffle([...hot, ...cold]);
}

export async function sampleParams(sql: postgres.Sql, now: Date): Promise<Params> {
  await sql`SELECT setseed(0.42)`;
  const periods = await sql<{ seasonId: number; periodId: number }[]>`
    SELECT season_id AS "seasonId", id AS "periodId" FROM period ORDER BY id`;
  const runs = await sql<{ seasonId: number; runGuid: string }[]>`
    SELECT season_id AS "seasonId", run_guid::text AS "runGuid"
    FROM leaderboard_run TABLESAMPLE BERNOULLI (1) REPEATABLE (42) WHERE season_id <= 5
    ORDER BY random() LIMIT ${N}`;
  const players = await sql<{ seasonId: number; characterName: string }[]>`
    SELECT season_id AS "seasonId", character_name AS "characterName"
    FROM run_group_member TABLESAMPLE BERNOULLI (1) REPEATABLE (42) WHERE season_id <= 5
    ORDER BY random() LIMIT ${N}`;
  const killmails = (
    await sql<{ killmailId: string; killmailTime: Date }[]>`
      SELECT killmail_id AS "killmailId", killmail_time AS "killmailTime"
      FROM killmails_raw TABLESAMPLE BERNOULLI (1) REPEATABLE (42) ORDER BY random() LIMIT ${N}`
  ).map((k) => ({ killmailId: Number(k.killmailId), killmailTime: new Date(k.killmailTime) }));
  const names = await sql<{ name: string }[]>`
    (SELECT name FROM characters ORDER BY random() LIMIT 100)
    UNION ALL (SELECT name FROM corporations ORDER BY random() LIMIT 40)
    UNION ALL (SELECT name FROM alliances ORDER BY random() LIMIT 30)
    UNION ALL (SELECT name FROM systems ORDER BY random() LIMIT 30)`;
  // What a user types: a prefix (2-8 characters) or a fragment from inside the name.
  const typed = names.map(({ name }, i) => {
    const lower = name.toLowerCase();
    if (i % 3 === 2) return lower.slice(2, 6);
    return lower.slice(0, 2 + (i % 7));
  });
  const seasons = [...new Set(periods.map((p) => p.seasonId))];
  return {
    now,
    seasons,
    periods,
    dungeons: (await ids(sql, 'SELECT id FROM dungeon ORDER BY id')).map(Number),
    runs: shuffle([...runs]),
    players: shuffle([...players]),
    killmails: shuffle(killmails),
    systems: await mixed(sql, 'system_id', 'killmails_raw', 'systems'),
    shipTypes: await mixed(
      sql,
      'ship_type_id',
      'killmails_raw',
      'generate_series(580, 979) AS t(id)',
    ),
    characters: await mixed(sql, 'character_id', 'killmail_participants', 'characters'),
    corporations: await mixed(sql, 'corporation_id', 'killmail_participants', 'corporations'),
    alliances: await mixed(sql, 'alliance_id', 'killmail_participants', 'alliances'),
    names: shuffle(typed),
    minIsk: ['100000000', '1000000000', '5000000000', '20000000000', '50000000000'],
    tags: shuffle(
      MODULE_TAGS.flatMap((tag, i) => [
        [tag],
        [tag, MODULE_TAGS[(i * 7 + 3) % MODULE_TAGS.length] as string],
      ]),
    ),
    fragments: [
      ...SECURITY.map((security) => ({ security })),
      { solo: true },
      { npc: true },
      ...SHIP_GROUPS.map((shipGroup) => ({ victim: { shipGroup } })),
    ],
  };
}

/** The i-th element, cycling. */
export function pick<T>(items: readonly T[], i: number): T {
  const item = items[i % items.length];
  if (item === undefined)
    throw new BenchError('bench: no parameters sampled (is the data set empty?)');
  return item;
}
