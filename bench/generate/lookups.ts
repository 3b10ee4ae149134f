import type postgres from 'postgres';
import type { Progress } from '../progress.js';
import { IDS, type Scale } from './scale.js';

/**
 * The lookup tables: alliances, corporations, characters, systems (100k+ names at the default
 * scale), named by bench_name. Character i belongs to corporation 1 + (i - 1) % corporations;
 * corporation c to alliance 1 + (c - 1) % alliances unless c % 5 = 0 (no alliance). The
 * killmail generator uses the same arithmetic, so participants agree with the lookups.
 */
export async function generateLookups(sql: postgres.Sql, s: Scale, bar: Progress): Promise<void> {
  await sql.unsafe(
    `INSERT INTO alliances (id, name, ticker)
     SELECT $1::bigint + g, bench_name(g, 3) || ' Alliance', upper(substr(md5(g::text), 1, 4))
     FROM generate_series(1, $2::int) g`,
    [IDS.alliance, s.alliances],
  );
  await sql.unsafe(
    `INSERT INTO corporations (id, name, ticker, alliance_id)
     SELECT $1::bigint + g, bench_name(g, 2) || ' Corp', upper(substr(md5(g::text), 1, 5)),
            CASE WHEN g % 5 = 0 THEN NULL ELSE $3::bigint + 1 + (g - 1) % $4::int END
     FROM generate_series(1, $2::int) g`,
    [IDS.corporation, s.corporations, IDS.alliance, s.alliances],
  );
  bar.tick(1);
  for (let from = 1; from <= s.characters; from += 500_000) {
    const to = Math.min(s.characters, from + 499_999);
    await sql.unsafe(
      `INSERT INTO characters (id, name, corporation_id, alliance_id)
       SELECT $1::bigint + g, bench_name(g, 1), $4::bigint + c,
              CASE WHEN c % 5 = 0 THEN NULL ELSE $6::bigint + 1 + (c - 1) % $7::int END
       FROM generate_series($2::int, $3::int) g, LATERAL (SELECT 1 + (g - 1) % $5::int AS c) x`,
      [IDS.character, from, to, IDS.corporation, s.corporations, IDS.alliance, s.alliances],
    );
  }
  bar.tick(2);
  await sql.unsafe(
    `INSERT INTO systems (id, name, security_status, region_id)
     SELECT $1::bigint + g, replace(bench_name(g, 4), ' ', '-') || '-' || g % 100,
            round((random() * 2 - 1)::numeric, 2)::real, 10000000 + g % 70
     FROM generate_series(1, $2::int) g`,
    [IDS.system, s.systems],
  );
  bar.tick(3);
}
