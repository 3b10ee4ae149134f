import type postgres from 'postgres';

/** Count and an order-independent checksum of `columns` over the rows a WHERE selects. */
export async function countAndChecksum(
  sql: postgres.Sql,
  table: string,
  columns: readonly string[],
  where = 'TRUE',
): Promise<{ rows: number; checksum: string }> {
  const list = columns.map((c) => `"${c}"`).join(', ');
  const [row] = await sql.unsafe(
    `SELECT count(*)::int AS rows, coalesce(sum(hashtextextended(ROW(${list})::text, 0)), 0)::text AS checksum
     FROM ${table} WHERE ${where}`,
  );
  return { rows: Number(row?.rows), checksum: String(row?.checksum) };
}

export const RUN_COLUMNS = [
  'id',
  'run_guid',
  'region',
  'season_id',
  'period_id',
  'dungeon_id',
  'realm_id',
  'completed_at',
  'duration_ms',
  'keystone_level',
  'score',
  'rank',
] as const;
export const MEMBER_COLUMNS = [
  'run_guid',
  'character_name',
  'class_id',
  'spec_id',
  'role',
] as const;

/**
 * The leaderboard's twins (before the swap, in pgparts_leaderboard_new) and its legacy tables in
 * public, each table by count and checksum: equal when the fill and its replay lost nothing.
 */
export async function leaderboardSides(sql: postgres.Sql) {
  const side = async (schema: string) => ({
    runs: await countAndChecksum(sql, `${schema}.leaderboard_run`, RUN_COLUMNS),
    members: await countAndChecksum(sql, `${schema}.run_group_member`, MEMBER_COLUMNS),
  });
  return { twin: await side('pgparts_leaderboard_new'), legacy: await side('public') };
}
