import type postgres from 'postgres';
import type { Progress } from '../progress.js';
import { IDS, MODULE_TAGS, type Scale, SECURITY, SHIP_GROUPS } from './scale.js';

export interface Chunk {
  firstId: number;
  count: number;
  from: Date;
  to: Date;
}

/** First instant of the UTC month `offset` months after the one holding `at`. */
export function utcMonth(at: Date, offset = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));
}

/**
 * The killmails spread evenly over time from the first of the 13 months to `now`, cut into chunks
 * of at most `scale.chunk` that never cross a month boundary (each INSERT reads one partition).
 */
export function killmailChunks(s: Scale, now: Date): Chunk[] {
  const start = utcMonth(now, -(s.months - 1));
  const span = now.getTime() - start.getTime();
  const chunks: Chunk[] = [];
  let firstId = IDS.killmail + 1;
  let assigned = 0;
  for (let m = 0; m < s.months; m += 1) {
    const from = utcMonth(start, m);
    const to = new Date(Math.min(utcMonth(start, m + 1).getTime(), now.getTime()));
    const upTo = Math.round((s.killmails * (to.getTime() - start.getTime())) / span);
    const inMonth = upTo - assigned;
    const parts = Math.max(1, Math.ceil(inMonth / s.chunk));
    for (let p = 0; p < parts; p += 1) {
      const count = Math.round((inMonth * (p + 1)) / parts) - Math.round((inMonth * p) / parts);
      const partFrom = from.getTime() + ((to.getTime() - from.getTime()) * p) / parts;
      const partTo = from.getTime() + ((to.getTime() - from.getTime()) * (p + 1)) / parts;
      chunks.push({ firstId, count, from: new Date(partFrom), to: new Date(partTo) });
      firstId += count;
    }
    assigned = upTo;
  }
  return chunks;
}

/**
 * One chunk: raw killmails, their enrichment (95%) and participants (victim + 2..9 attackers,
 * 10% of attackers NPCs). Skew: systems, ship types, characters and tags are drawn as
 * floor(n * random()^2), so low ids are hot and the tail is cold. Three set-based statements.
 */
export async function generateChunk(sql: postgres.Sql, s: Scale, c: Chunk): Promise<void> {
  const from = c.from.toISOString();
  const to = c.to.toISOString();
  await sql.unsafe(
    `INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload, inserted_at)
     SELECT id, t, $5::bigint + 1 + floor($6::int * random() ^ 2)::int,
            $7::bigint + floor($8::int * random() ^ 2)::int,
            jsonb_build_object('killmail_id', id, 'zkb', jsonb_build_object('hash', md5(id::text), 'points', id % 50)),
            t + interval '3 seconds'
     FROM generate_series(0, $2::int - 1) g,
          LATERAL (SELECT $1::bigint + g AS id,
                          $3::timestamptz + ($4::timestamptz - $3::timestamptz) * ((g + 0.5)::float8 / $2::int) AS t) x`,
    [c.firstId, c.count, from, to, IDS.system, s.systems, IDS.shipType, s.shipTypes],
  );
  await sql.unsafe(
    `INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob, enriched_at)
     SELECT r.killmail_id, r.killmail_time,
            round((10 ^ (5 + 6 * random() ^ 1.5))::numeric, 2),
            ARRAY(SELECT DISTINCT ($3::text[])[1 + floor(array_length($3::text[], 1) * random() ^ 2)::int]
                  FROM generate_series(0, 1 + (r.killmail_id % 5)::int)),
            jsonb_build_object(
              'security', ($4::text[])[1 + floor(4 * random() ^ 1.3)::int],
              'solo', random() < 0.15, 'npc', random() < 0.08,
              'victim', jsonb_build_object('shipGroup', ($5::text[])[1 + floor(array_length($5::text[], 1) * random() ^ 2)::int]),
              'points', r.killmail_id % 100),
            r.killmail_time + random() * interval '10 minutes'
     FROM killmails_raw r
     WHERE r.killmail_time >= $1::timestamptz AND r.killmail_time < $2::timestamptz AND r.killmail_id % 20 <> 0`,
    [from, to, MODULE_TAGS, SECURITY, SHIP_GROUPS],
  );
  await sql.unsafe(
    `INSERT INTO killmail_participants (killmail_id, killmail_time, position, is_victim, character_id,
       corporation_id, alliance_id, faction_id, ship_type_id, weapon_type_id, damage_done, damage_taken,
       final_blow, security_status)
     SELECT killmail_id, killmail_time, p, p = 0,
            $3::bigint + ch, $4::bigint + corp,
            CASE WHEN corp % 5 = 0 THEN NULL ELSE $6::bigint + 1 + (corp - 1) % $7::int END,
            CASE WHEN ch IS NULL THEN $8::bigint + 1 + p % 4 END,
            CASE WHEN p = 0 THEN victim_ship ELSE $9::bigint + floor($10::int * random() ^ 2)::int END,
            CASE WHEN p > 0 THEN 2000 + floor(300 * random())::int END,
            CASE WHEN p > 0 THEN floor(5000 * random())::int ELSE 0 END,
            CASE WHEN p = 0 THEN floor(20000 * random())::int ELSE 0 END,
            p = 1, round((random() * 10 - 5)::numeric, 1)::real
     FROM (
       SELECT r.killmail_id, r.killmail_time, r.ship_type_id AS victim_ship, p,
              CASE WHEN p > 0 AND random() < 0.1 THEN NULL ELSE 1 + floor($5::int * random() ^ 2)::int END AS ch
       FROM killmails_raw r
       CROSS JOIN LATERAL generate_series(0, 2 + floor(8 * ((abs(hashint8(r.killmail_id)) % 1000) / 1000.0) ^ 2)::int) p
       WHERE r.killmail_time >= $1::timestamptz AND r.killmail_time < $2::timestamptz
     ) x,
     LATERAL (SELECT CASE WHEN ch IS NULL THEN NULL ELSE 1 + (ch - 1) % $11::int END AS corp) y`,
    [
      from,
      to,
      IDS.character,
      IDS.corporation,
      s.characters,
      IDS.alliance,
      s.alliances,
      IDS.faction,
      IDS.shipType,
      s.shipTypes,
      s.corporations,
    ],
  );
}

export async function generateKillmails(
  sql: postgres.Sql,
  s: Scale,
  now: Date,
  bar: Progress,
): Promise<void> {
  let done = 0;
  for (const chunk of killmailChunks(s, now)) {
    await generateChunk(sql, s, chunk);
    done += chunk.count;
    bar.tick(done);
  }
}
