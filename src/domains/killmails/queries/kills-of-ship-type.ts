import { and, eq } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailsRaw } from '../tables.js';
import { feedColumns, newestFirst } from './feed-columns.js';
import {
  afterCursor,
  cursorSchema,
  DAY_MS,
  gameIdSchema,
  limitSchema,
  resolveWindow,
  type TimeWindow,
  windowFields,
  withinWindow,
} from './inputs.js';

export const killsOfShipTypeInput = z
  .object({
    shipTypeId: gameIdSchema,
    ...windowFields,
    limit: limitSchema(500, 50),
    before: cursorSchema.optional(),
  })
  .strict();
export type KillsOfShipTypeInput = z.input<typeof killsOfShipTypeInput>;

/** The UTC day holding `now`: [00:00, next 00:00). */
export function utcDay(now: Date = new Date()): TimeWindow {
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  return { from, to: new Date(from.getTime() + DAY_MS) };
}

/**
 * Kills of a ship type within [from, to), newest first; by default today (UTC). Prunes: the
 * window's two bounds. Index: idx_killmails_raw_ship_type_time (ship_type_id, killmail_time DESC).
 */
export function killsOfShipTypeQuery(db: AnyPgDatabase, input: KillsOfShipTypeInput, now?: Date) {
  const i = parseQueryInput('killsOfShipType', killsOfShipTypeInput, input);
  const today = utcDay(now);
  const window = resolveWindow(
    'killsOfShipType',
    { from: i.from ?? (i.to ? undefined : today.from), to: i.to ?? today.to },
    DAY_MS,
    now,
  );
  const k = killmailsRaw;
  return db
    .select(feedColumns)
    .from(k)
    .where(
      and(
        eq(k.shipTypeId, i.shipTypeId),
        withinWindow(k.killmailTime, window),
        afterCursor(k.killmailTime, k.killmailId, i.before),
      ),
    )
    .orderBy(...newestFirst)
    .limit(i.limit);
}

export async function killsOfShipType(
  db: AnyPgDatabase,
  input: KillsOfShipTypeInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('killsOfShipType', options);
  return await runQuery('killsOfShipType', () =>
    sendQuery('killsOfShipType', killsOfShipTypeQuery(db, input), o),
  );
}
