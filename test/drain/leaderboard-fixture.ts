import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { tableDigest } from '../support/table-checksum.js';

/** Seasons 12, 13 and 14; only 13 has partitions, so 12 and 14 land in DEFAULT. */
export async function setupSeasons(sql: postgres.Sql): Promise<void> {
  await sql`INSERT INTO season (id, name) VALUES (12, 'S12'), (13, 'S13'), (14, 'S14')`;
  await sql`INSERT INTO dungeon (id, name) VALUES (1, 'D1'), (2, 'D2')`;
  for (const table of leaderboardFamily.tables) {
    for (const s of createPartitionSql(leaderboardFamily, table, { kind: 'list', value: 13 })) {
      await sql.unsafe(s);
    }
  }
}

/** `runs` runs of a season with 5 members each, set-based. */
export async function insertRuns(
  sql: postgres.Sql,
  season: number,
  runs: number,
  offset = 0,
): Promise<void> {
  await sql`
    WITH r AS (
      INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
      SELECT gen_random_uuid(), 'eu', ${season}, 1 + i % 2, timestamp '2026-01-01' + i * interval '1 minute',
             1000000 + i + ${offset}, 2 + i % 20, 100 + (i * 7) % 300
      FROM generate_series(1, ${runs}) i
      RETURNING season_id, run_guid)
    INSERT INTO run_group_member (season_id, run_guid, character_name, class_id, spec_id, role)
    SELECT r.season_id, r.run_guid, 'char' || k, k, k * 3, CASE k WHEN 1 THEN 'tank' WHEN 2 THEN 'healer' ELSE 'dps' END
    FROM r, generate_series(1, 5) k`;
}

/** One run with its members, as an application would write it: two statements, one transaction. */
export async function writeOneRun(sql: postgres.Sql, season: number): Promise<string> {
  const guid = randomUUID();
  await sql.begin(async (tx) => {
    await tx`INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
             VALUES (${guid}, 'us', ${season}, 2, now(), 1, 10, 200)`;
    await tx`INSERT INTO run_group_member (season_id, run_guid, character_name)
             SELECT ${season}, ${guid}, 'w' || k FROM generate_series(1, 5) k`;
  });
  return guid;
}

export const RUN_ORDER = ['season_id', 'id'];
export const MEMBER_ORDER = ['season_id', 'run_guid', 'character_name'];

export async function digests(sql: postgres.Sql) {
  return {
    runs: await tableDigest(sql, 'leaderboard_run', RUN_ORDER),
    members: await tableDigest(sql, 'run_group_member', MEMBER_ORDER),
  };
}

/** Rows per partition, e.g. { leaderboard_run_s14: 300, ... }. */
export async function rowsByPartition(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows = await sql<{ part: string; n: number }[]>`
    SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM leaderboard_run GROUP BY 1
    UNION ALL
    SELECT tableoid::regclass::text, count(*)::int FROM run_group_member GROUP BY 1`;
  return Object.fromEntries(rows.map((r) => [r.part, r.n]));
}
