import { and, desc, gte } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailsEnriched } from '../tables.js';
import { enrichedColumns } from './enriched-columns.js';
import { DAY_MS, limitSchema, resolveWindow, windowFields, withinWindow } from './inputs.js';

/** ISK as a number or a decimal string (isk_value is numeric: strings keep every digit). */
const iskSchema = z.union([
  z.number().nonnegative().finite(),
  z.string().regex(/^\d{1,20}(\.\d{1,4})?$/, 'an ISK amount like "1500000000" or "12.5"'),
]);

export const killsWorthAtLeastInput = z
  .object({ minIsk: iskSchema, ...windowFields, limit: limitSchema(500, 50) })
  .strict();
export type KillsWorthAtLeastInput = z.input<typeof killsWorthAtLeastInput>;

/**
 * Kills worth at least `minIsk` within [from, to) (default: the last 24 hours), most valuable
 * first. Prunes: the window's two bounds. Index: idx_killmails_enriched_isk_value (isk_value,
 * killmail_time), read backwards from the top value down to minIsk; the window is checked in the
 * index, so only the rows returned are fetched.
 */
export function killsWorthAtLeastQuery(
  db: AnyPgDatabase,
  input: KillsWorthAtLeastInput,
  now?: Date,
) {
  const i = parseQueryInput('killsWorthAtLeast', killsWorthAtLeastInput, input);
  const window = resolveWindow('killsWorthAtLeast', i, DAY_MS, now);
  const e = killmailsEnriched;
  return db
    .select(enrichedColumns)
    .from(e)
    .where(and(gte(e.iskValue, String(i.minIsk)), withinWindow(e.killmailTime, window)))
    .orderBy(desc(e.iskValue), desc(e.killmailTime), desc(e.killmailId))
    .limit(i.limit);
}

export async function killsWorthAtLeast(
  db: AnyPgDatabase,
  input: KillsWorthAtLeastInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('killsWorthAtLeast', options);
  return await runQuery('killsWorthAtLeast', () =>
    sendQuery('killsWorthAtLeast', killsWorthAtLeastQuery(db, input), o),
  );
}
