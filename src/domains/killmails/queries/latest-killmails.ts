import { and, gte } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailsRaw } from '../tables.js';
import { feedColumns, newestFirst } from './feed-columns.js';
import { afterCursor, cursorSchema, DAY_MS, limitSchema } from './inputs.js';

export const latestKillmailsInput = z
  .object({ limit: limitSchema(500, 50), before: cursorSchema.optional() })
  .strict();
export type LatestKillmailsInput = z.input<typeof latestKillmailsInput>;

/** How far back from the cursor (or now) the first try reads: usually a page, and one or two months. */
export const LATEST_FIRST_TRY_MS = DAY_MS;

/**
 * The newest killmails, a page at a time: pass the last row's (killmailTime, killmailId) as
 * `before` for the next page. Index: idx_killmails_raw_time, read backwards in time. Prunes: the
 * cursor's `killmail_time <= t` drops newer partitions at plan time; `since` (the first try of
 * latestKillmails) drops older ones; without it partitions are read newest first (an ordered
 * Append) and the LIMIT stops before older ones are touched, but every month is still planned
 * and opened.
 */
export function latestKillmailsQuery(db: AnyPgDatabase, input: LatestKillmailsInput, since?: Date) {
  const i = parseQueryInput('latestKillmails', latestKillmailsInput, input);
  const k = killmailsRaw;
  return db
    .select(feedColumns)
    .from(k)
    .where(
      and(
        afterCursor(k.killmailTime, k.killmailId, i.before),
        since ? gte(k.killmailTime, since) : undefined,
      ),
    )
    .orderBy(...newestFirst)
    .limit(i.limit);
}

/**
 * The page, first from the day before the cursor (or now) and, if that holds fewer than `limit`
 * rows, from all time. The answer is the same either way: every row the first try leaves out is
 * older than every row it returns. A busy feed gets its page from the first try, whose plan keeps
 * one or two months (plus those created ahead) instead of every month; a quiet one pays a second
 * statement.
 */
export async function latestKillmails(
  db: AnyPgDatabase,
  input: LatestKillmailsInput = {},
  options?: QueryOptions,
) {
  const i = parseQueryInput('latestKillmails', latestKillmailsInput, input);
  const o = parseQueryOptions('latestKillmails', options);
  const anchor = i.before?.killmailTime ?? new Date();
  const since = new Date(anchor.getTime() - LATEST_FIRST_TRY_MS);
  const recent = await runQuery('latestKillmails', () =>
    sendQuery('latestKillmails', latestKillmailsQuery(db, input, since), o),
  );
  if (recent.length >= i.limit) return recent;
  return await runQuery('latestKillmails', () =>
    sendQuery('latestKillmails', latestKillmailsQuery(db, input), o),
  );
}
