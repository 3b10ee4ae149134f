import { type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendSql } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { rowsOf } from '../../../run/rows.js';
import { quoteIdent } from '../../../sql/identifiers.js';
import { gameIdSchema, instantSchema } from './inputs.js';

export const surveillanceMatchesInput = z
  .object({
    killmailId: gameIdSchema,
    /** The killmail's exact time: it is the partition key, so the lookups read one month. */
    killmailTime: instantSchema,
  })
  .strict();
export type SurveillanceMatchesInput = z.input<typeof surveillanceMatchesInput>;

export interface SurveillanceMatch {
  profileId: number;
  userId: number;
  name: string;
}

const q = (name: string) => sql.raw(quoteIdent(name));
const filterType = q('surveillance_filter_type');

/**
 * One statement: the killmail's facts are read by primary key from raw, enriched and
 * participants, each with killmail_time = $t, so each prunes to the killmail's month. Id filters
 * are found through the GIN index on surveillance_filters.value (`value @> {"ids":[id]}`), one
 * probe per fact; min_isk and module_tags filters through the filter_type index. A profile
 * matches when all its filters matched (its filter count, from the (profile_id, order_index) key).
 * A profile without filters matches nothing; min_isk and module_tags never match a killmail that
 * is not enriched yet.
 */
export function surveillanceMatchesQuery(input: SurveillanceMatchesInput): SQL {
  const i = parseQueryInput('matchSurveillanceProfiles', surveillanceMatchesInput, input);
  // An ISO string, not a Date: drivers differ in how they send a Date bound into raw SQL.
  const time = i.killmailTime.toISOString();
  const key = (alias: string) =>
    sql`${sql.raw(alias)}.${q('killmail_id')} = ${i.killmailId} AND ${sql.raw(alias)}.${q('killmail_time')} = ${time}::timestamptz`;
  const ft = q('filter_type');
  const value = q('value');
  const who = (column: string, kind: string) =>
    sql`SELECT ${kind}::${filterType}, p.${q(column)} FROM ${q('killmail_participants')} p
      WHERE ${key('p')} AND p.${q(column)} IS NOT NULL`;
  return sql`WITH raw AS (
  SELECT r.${q('system_id')}, r.${q('ship_type_id')} FROM ${q('killmails_raw')} r WHERE ${key('r')}
), enriched AS (
  SELECT e.${q('isk_value')}, to_jsonb(e.${q('module_tags')}) AS tags
  FROM ${q('killmails_enriched')} e WHERE ${key('e')}
), facts (kind, id) AS (
  SELECT ${'system'}::${filterType}, ${q('system_id')} FROM raw
  UNION SELECT ${'ship_type'}::${filterType}, ${q('ship_type_id')} FROM raw
  UNION ${who('character_id', 'character')}
  UNION ${who('corporation_id', 'corporation')}
  UNION ${who('alliance_id', 'alliance')}
), hits AS (
  SELECT f.${q('id')}, f.${q('profile_id')}
  FROM facts JOIN ${q('surveillance_filters')} f
    ON f.${ft} = facts.kind AND f.${value} @> jsonb_build_object('ids', jsonb_build_array(facts.id))
  UNION
  SELECT f.${q('id')}, f.${q('profile_id')} FROM ${q('surveillance_filters')} f, enriched e
  WHERE f.${ft} = ${'min_isk'}::${filterType} AND (f.${value} ->> 'minIsk')::numeric <= e.${q('isk_value')}
  UNION
  SELECT f.${q('id')}, f.${q('profile_id')} FROM ${q('surveillance_filters')} f, enriched e
  WHERE f.${ft} = ${'module_tags'}::${filterType} AND e.tags @> (f.${value} -> 'tags')
), matched AS (
  SELECT ${q('profile_id')}, count(*) AS n FROM hits GROUP BY ${q('profile_id')}
)
SELECT sp.${q('id')}::bigint AS "profileId", sp.${q('user_id')}::bigint AS "userId", sp.${q('name')}
FROM matched m JOIN ${q('surveillance_profiles')} sp ON sp.${q('id')} = m.${q('profile_id')}
WHERE m.n = (SELECT count(*) FROM ${q('surveillance_filters')} a
             WHERE a.${q('profile_id')} = m.${q('profile_id')})
ORDER BY sp.${q('id')}`;
}

/** The surveillance profiles whose filters all match a killmail, by profile id. */
export async function matchSurveillanceProfiles(
  db: AnyPgDatabase,
  input: SurveillanceMatchesInput,
  options?: QueryOptions,
): Promise<SurveillanceMatch[]> {
  const o = parseQueryOptions('matchSurveillanceProfiles', options);
  const rows = rowsOf<{ profileId: string | number; userId: string | number; name: string }>(
    await runQuery('matchSurveillanceProfiles', () =>
      sendSql(db, 'matchSurveillanceProfiles', surveillanceMatchesQuery(input), o),
    ),
  );
  return rows.map((r) => ({
    profileId: Number(r.profileId),
    userId: Number(r.userId),
    name: r.name,
  }));
}
