import type postgres from 'postgres';
import { IDS, MODULE_TAGS, type Scale } from './scale.js';

/**
 * Users with 1-3 characters each, and surveillance profiles with 1-3 filters each. Filter types
 * rotate over the seven; id filters hold 1-5 ids drawn with the same skew as the killmails, so
 * hot systems and characters are watched by many profiles. Values have the shapes the zod schema
 * of addSurveillanceFilter accepts (ids sorted and distinct, tags sorted and distinct).
 */
export async function generateSurveillance(sql: postgres.Sql, s: Scale): Promise<void> {
  await sql.unsafe(
    `INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, $1::int) g`,
    [s.users],
  );
  await sql.unsafe(
    `INSERT INTO users_characters (user_id, character_id)
     SELECT DISTINCT u.id, $1::bigint + 1 + floor($2::int * random() ^ 2)::int + 0 * k
     FROM users u CROSS JOIN LATERAL generate_series(0, (u.id % 3)::int) k`,
    [IDS.character, s.characters],
  );
  await sql.unsafe(
    `INSERT INTO surveillance_profiles (user_id, name)
     SELECT 1 + (g - 1) % $1::int, 'profile ' || g FROM generate_series(1, $2::int) g`,
    [s.users, s.profiles],
  );
  // type index 0..6: system, ship_type, character, corporation, alliance, min_isk, module_tags
  await sql.unsafe(
    `INSERT INTO surveillance_filters (profile_id, order_index, filter_type, value)
     SELECT p.id, k, (enum_range(NULL::surveillance_filter_type))[1 + t],
            CASE t
              WHEN 5 THEN jsonb_build_object('minIsk', (10 ^ (7 + floor(4 * random())))::bigint)
              WHEN 6 THEN jsonb_build_object('tags', to_jsonb(ARRAY(
                SELECT DISTINCT ($8::text[])[1 + floor(array_length($8::text[], 1) * random() ^ 2)::int + 0 * j]
                FROM generate_series(0, (p.id % 2)::int) j ORDER BY 1)))
              ELSE jsonb_build_object('ids', to_jsonb(ARRAY(
                SELECT DISTINCT (CASE t WHEN 0 THEN $1::bigint + 1 + floor($2::int * random() ^ 2)::int
                                        WHEN 1 THEN $3::bigint + floor($4::int * random() ^ 2)::int
                                        WHEN 2 THEN $5::bigint + 1 + floor($6::int * random() ^ 2)::int
                                        WHEN 3 THEN $7::bigint + 1 + floor($9::int * random() ^ 2)::int
                                        ELSE $10::bigint + 1 + floor($11::int * random() ^ 2)::int END) + 0 * j
                FROM generate_series(0, (p.id % 5)::int) j ORDER BY 1)))
            END
     FROM surveillance_profiles p
     CROSS JOIN LATERAL generate_series(0, (p.id % 3)::int) k,
     LATERAL (SELECT ((p.id * 7 + k * 3) % 7)::int AS t) x`,
    [
      IDS.system,
      s.systems,
      IDS.shipType,
      s.shipTypes,
      IDS.character,
      s.characters,
      IDS.corporation,
      MODULE_TAGS,
      s.corporations,
      IDS.alliance,
      s.alliances,
    ],
  );
}
