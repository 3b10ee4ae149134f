import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailsRaw } from '../tables.js';
import { feedColumns, newestFirst } from './feed-columns.js';
import { afterCursor, cursorSchema, limitSchema } from './inputs.js';

export const latestKillmailsInput = z
  .object({ limit: limitSchema(500, 50), before: cursorSchema.optional() })
  .strict();
export type LatestKillmailsInput = z.input<typeof latestKillmailsInput>;

/**
 * The newest killmails, a page at a time: pass the last row's (killmailTime, killmailId) as
 * `before` for the next page. Index: idx_killmails_raw_time, read backwards in time. Prunes: the
 * cursor's `killmail_time <= t` drops newer partitions at plan time; partitions are read newest
 * first (an ordered Append) and the LIMIT stops before older ones are touched.
 */
export function latestKillmailsQuery(db: AnyPgDatabase, input: LatestKillmailsInput) {
  const i = parseQueryInput('latestKillmails', latestKillmailsInput, input);
  const k = killmailsRaw;
  return db
    .select(feedColumns)
    .from(k)
    .where(afterCursor(k.killmailTime, k.killmailId, i.before))
    .orderBy(...newestFirst)
    .limit(i.limit);
}

export async function latestKillmails(
  db: AnyPgDatabase,
  input: LatestKillmailsInput = {},
  options?: QueryOptions,
) {
  const o = parseQueryOptions('latestKillmails', options);
  return await runQuery('latestKillmails', () =>
    sendQuery('latestKillmails', latestKillmailsQuery(db, input), o),
  );
}
