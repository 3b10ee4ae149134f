import type postgres from 'postgres';

export interface TableDigest {
  rows: number;
  /** md5 over every row's text form, in primary-key order: any lost, duplicated or changed row shows. */
  checksum: string;
}

/** Count and checksum of a whole table (all partitions), ordered by the given columns. */
export async function tableDigest(
  sql: postgres.Sql,
  table: string,
  orderBy: string[],
  where = 'true',
): Promise<TableDigest> {
  const order = sql.unsafe(orderBy.map((c) => `"${c.replaceAll('"', '""')}"`).join(', '));
  const [row] = await sql<{ rows: number; checksum: string | null }[]>`
    SELECT count(*)::int AS rows,
           md5(coalesce(string_agg(t::text, E'\n' ORDER BY ${order}), '')) AS checksum
    FROM ${sql(table)} t WHERE ${sql.unsafe(where)}`;
  return { rows: row?.rows ?? 0, checksum: row?.checksum ?? '' };
}
