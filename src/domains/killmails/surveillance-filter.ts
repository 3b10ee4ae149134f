import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { PgpartsError, sqlStateOf } from '../../errors.js';
import { parseQueryInput } from '../../query/input.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { surveillanceFilters } from './tables.js';

const gameId = z.number().int().positive().safe();

/** Ids a filter matches; stored sorted and without duplicates, so equal filters store equally. */
const idsValue = z
  .object({ ids: z.array(gameId).min(1, 'give at least one id').max(1000) })
  .strict()
  .transform((v) => ({ ids: [...new Set(v.ids)].sort((a, b) => a - b) }));

/**
 * What each filter type matches, and the shape of its `value` JSON:
 * - system, ship_type: the killmail's system / victim ship type is one of `ids`;
 * - character, corporation, alliance: any participant (victim or attacker) is one of `ids`;
 * - min_isk: the killmail's enriched ISK value is at least `minIsk`;
 * - module_tags: the killmail's module_tags contain every one of `tags`.
 */
export const surveillanceFilterSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('system'), value: idsValue }).strict(),
  z.object({ type: z.literal('ship_type'), value: idsValue }).strict(),
  z.object({ type: z.literal('character'), value: idsValue }).strict(),
  z.object({ type: z.literal('corporation'), value: idsValue }).strict(),
  z.object({ type: z.literal('alliance'), value: idsValue }).strict(),
  z
    .object({
      type: z.literal('min_isk'),
      value: z.object({ minIsk: z.number().nonnegative().finite() }).strict(),
    })
    .strict(),
  z
    .object({
      type: z.literal('module_tags'),
      value: z
        .object({ tags: z.array(z.string().min(1).max(100)).min(1).max(50) })
        .strict()
        .transform((v) => ({ tags: [...new Set(v.tags)].sort() })),
    })
    .strict(),
]);
export type SurveillanceFilter = z.input<typeof surveillanceFilterSchema>;

export const addSurveillanceFilterInput = z
  .object({
    profileId: gameId,
    filter: surveillanceFilterSchema,
    /** Position in the profile; by default after its last filter. */
    orderIndex: z.number().int().min(0).max(1_000_000).optional(),
  })
  .strict();
export type AddSurveillanceFilterInput = z.input<typeof addSurveillanceFilterInput>;

/**
 * Adds a filter to a surveillance profile. A profile matches a killmail when every one of its
 * filters does (see matchSurveillanceProfiles). The value is validated against its type before
 * anything is written, so matching never meets a malformed filter.
 */
export async function addSurveillanceFilter(db: AnyPgDatabase, input: AddSurveillanceFilterInput) {
  const i = parseQueryInput('addSurveillanceFilter', addSurveillanceFilterInput, input);
  const f = surveillanceFilters;
  const orderIndex =
    i.orderIndex ??
    sql`(SELECT coalesce(max(${f.orderIndex}) + 1, 0) FROM ${f} WHERE ${f.profileId} = ${i.profileId})`;
  try {
    const [row] = await db
      .insert(f)
      .values({
        profileId: i.profileId,
        orderIndex,
        filterType: i.filter.type,
        value: i.filter.value,
      })
      .returning();
    if (!row) throw new PgpartsError('internal', 'pgparts: addSurveillanceFilter inserted no row');
    return row;
  } catch (error) {
    const code = sqlStateOf(error);
    if (code === '23503') {
      throw new PgpartsError(
        'invalid-input',
        `pgparts: addSurveillanceFilter: surveillance profile ${i.profileId} does not exist; ` +
          'create the profile first',
        { cause: error },
      );
    }
    if (code === '23505') {
      throw new PgpartsError(
        'invalid-input',
        `pgparts: addSurveillanceFilter: profile ${i.profileId} already has a filter at ` +
          `orderIndex ${i.orderIndex ?? '(next)'}; pick another orderIndex or retry`,
        { cause: error },
      );
    }
    throw error;
  }
}
