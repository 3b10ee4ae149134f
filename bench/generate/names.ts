import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../../src/run/database.js';

const SYLLABLES = [
  'ka',
  'ra',
  'vel',
  'tor',
  'an',
  'is',
  'mor',
  'dri',
  'sa',
  'lun',
  'ex',
  'zar',
  'quo',
  'bel',
  'thi',
  'on',
  'ae',
  'gol',
  'fen',
  'rix',
  'ul',
  'nar',
  'cy',
  'po',
  'den',
  'vo',
  'mi',
  'ash',
  'kel',
  'tri',
  'zen',
  'or',
  'hal',
  'ye',
  'gar',
  'sin',
  'lo',
  'bra',
  'ith',
  'um',
];

/**
 * bench_name(i, salt): a deterministic pronounceable name for the i-th entity ("Kavel Torash").
 * A SQL function so the lookup tables are generated set-based; dropped after generation.
 */
export async function createNameFunction(db: AnyPgDatabase): Promise<void> {
  const list = SYLLABLES.map((s) => `'${s}'`).join(',');
  await db.execute(
    sql.raw(`CREATE OR REPLACE FUNCTION bench_name(i bigint, salt bigint) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$
      SELECT initcap(s[1 + (h & 31) % ${SYLLABLES.length}] || s[1 + ((h >> 6) & 63) % ${SYLLABLES.length}]
                     || CASE WHEN h & 4096 = 0 THEN s[1 + ((h >> 13) & 63) % ${SYLLABLES.length}] ELSE '' END)
             || ' ' ||
             initcap(s[1 + ((h >> 20) & 63) % ${SYLLABLES.length}] || s[1 + ((h >> 27) & 63) % ${SYLLABLES.length}])
      FROM (SELECT ARRAY[${list}] AS s, abs(hashint8extended(i, salt)) AS h) x
    $f$`),
  );
}

export async function dropNameFunction(db: AnyPgDatabase): Promise<void> {
  await db.execute(sql.raw('DROP FUNCTION IF EXISTS bench_name(bigint, bigint)'));
}
