import type postgres from 'postgres';
import type { Progress } from '../progress.js';
import type { Scale } from './scale.js';

const REGIONS = ['eu', 'us', 'kr', 'tw'];

/** Seasons 1..5 of 10 weeks each (their rows come before maintain(), which partitions them), the last one current (ending after `now`). */
export async function generateSeasons(sql: postgres.Sql, s: Scale, now: Date): Promise<void> {
  const week = 7 * 24 * 3_600_000;
  const firstStart = new Date(now.getTime() - (s.seasons * s.periodsPerSeason - 3) * week);
  await sql.unsafe(
    `INSERT INTO season (id, name, starts_at, ends_at)
     SELECT g, 'Season ' || g, $1::timestamptz + (g - 1) * $2::int * interval '1 week',
            $1::timestamptz + g * $2::int * interval '1 week'
     FROM generate_series(1, $3::int) g`,
    [firstStart.toISOString(), s.periodsPerSeason, s.seasons],
  );
  await sql.unsafe(
    `INSERT INTO period (id, season_id, starts_at, ends_at)
     SELECT (se.id - 1) * $1::int + k, se.id, se.starts_at + (k - 1) * interval '1 week',
            se.starts_at + k * interval '1 week'
     FROM season se, generate_series(1, $1::int) k`,
    [s.periodsPerSeason],
  );
  await sql.unsafe(
    `INSERT INTO dungeon (id, name) SELECT g, 'Dungeon ' || g FROM generate_series(1, $1::int) g`,
    [s.dungeons],
  );
  await sql.unsafe(
    `INSERT INTO realm (id, name, region)
     SELECT g, bench_name(g, 9), ($2::text[])[1 + g % 4] FROM generate_series(1, $1::int) g`,
    [s.realms, REGIONS],
  );
}

/**
 * `runs` runs of season `seasonId` (its periods and time window), then 5 members each (tank,
 * healer, 3 dps) drawn from a pool of players with skew (low indexes play a lot). Keystone
 * levels are skewed low (2..24, few high keys), scores follow the level.
 */
export async function generateSeasonRuns(
  sql: postgres.Sql,
  s: Scale,
  seasonId: number,
  runs: number,
  membersPerRun: number = s.membersPerRun,
): Promise<void> {
  await sql.unsafe(
    `INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id,
                                  completed_at, duration_ms, keystone_level, score, rank)
     SELECT gen_random_uuid(), ($6::text[])[1 + realm % 4], $1::int, p, 1 + floor($3::int * random() ^ 1.5)::int, realm,
            (SELECT starts_at AT TIME ZONE 'UTC' FROM season WHERE id = $1::int)
              + (p - ($1::int - 1) * $4::int - 1 + random()) * interval '1 week',
            900000 + floor(1500000 * random())::int, lvl,
            round((lvl * 12.5 + 40 * random())::numeric, 3)::float8, NULL
     FROM generate_series(1, $2::int) g,
          LATERAL (SELECT ($1::int - 1) * $4::int + 1 + floor($4::int * random())::int + 0 * g AS p,
                          1 + floor($5::int * random() ^ 1.5)::int + 0 * g AS realm,
                          2 + floor(23 * random() ^ 2.5)::int + 0 * g AS lvl) x`,
    [seasonId, runs, s.dungeons, s.periodsPerSeason, s.realms, REGIONS],
  );
  // The members' key checks look each run up in the table the season's runs just went to (its
  // partition, or DEFAULT). Planned from statistics taken before those runs (a DEFAULT analyzed
  // empty), a check read the season through idx_leaderboard_run_season_dungeon, filtering on
  // run_guid: every member read every run of the season, and a 10M drain measurement's load of
  // 800,000 members was still running after 15 min. Analyzed first, each check is one read of
  // the (season_id, run_guid) key.
  const [landed] = await sql<{ table: string }[]>`
    SELECT tableoid::regclass::text AS table FROM leaderboard_run WHERE season_id = ${seasonId} LIMIT 1`;
  if (landed) await sql.unsafe(`ANALYZE ${landed.table}`);
  await sql.unsafe(
    `INSERT INTO run_group_member (season_id, run_guid, character_name, class_id, spec_id, role)
     SELECT b.season_id, b.run_guid, split_part(bench_name(pl, 7), ' ', 1) || pl,
            1 + pl % 13, 1 + (pl + m) % 3,
            CASE m WHEN 0 THEN 'tank' WHEN 1 THEN 'healer' ELSE 'dps' END
     FROM (SELECT season_id, run_guid, floor($2::int * random() ^ 2)::int AS base
           FROM leaderboard_run WHERE season_id = $1::int) b
     CROSS JOIN generate_series(0, $3::int - 1) m,
     LATERAL (SELECT (b.base + m * 7919) % $2::int AS pl) x`,
    [seasonId, s.players, membersPerRun],
  );
}

export async function generateLeaderboard(
  sql: postgres.Sql,
  s: Scale,
  bar: Progress,
): Promise<void> {
  for (let id = 1; id <= s.seasons; id += 1) {
    await generateSeasonRuns(sql, s, id, Math.round(s.runs / s.seasons));
    bar.tick(id);
  }
}
