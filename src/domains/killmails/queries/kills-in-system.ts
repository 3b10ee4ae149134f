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
  gameIdSchema,
  HOUR_MS,
  limitSchema,
  resolveWindow,
  windowFields,
  withinWindow,
} from './inputs.js';

export const killsInSystemInput = z
  .object({
    systemId: gameIdSchema,
    ...windowFields,
    limit: limitSchema(500, 50),
    before: cursorSchema.optional(),
  })
  .strict();
export type KillsInSystemInput = z.input<typeof killsInSystemInput>;

/**
 * Kills in a solar system within [from, to), newest first; by default the last hour. Prunes: the
 * window's two bounds keep only the months it overlaps. Index: idx_killmails_raw_system_time
 * (system_id, killmail_time DESC).
 */
export function killsInSystemQuery(db: AnyPgDatabase, input: KillsInSystemInput, now?: Date) {
  const i = parseQueryInput('killsInSystem', killsInSystemInput, input);
  const window = resolveWindow('killsInSystem', i, HOUR_MS, now);
  const k = killmailsRaw;
  return db
    .select(feedColumns)
    .from(k)
    .where(
      and(
        eq(k.systemId, i.systemId),
        withinWindow(k.killmailTime, window),
        afterCursor(k.killmailTime, k.killmailId, i.before),
      ),
    )
    .orderBy(...newestFirst)
    .limit(i.limit);
}

export async function killsInSystem(
  db: AnyPgDatabase,
  input: KillsInSystemInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('killsInSystem', options);
  return await runQuery('killsInSystem', () =>
    sendQuery('killsInSystem', killsInSystemQuery(db, input), o),
  );
}
