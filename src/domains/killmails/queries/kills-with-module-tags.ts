import { and, arrayContains } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailsEnriched } from '../tables.js';
import { enrichedColumns, enrichedNewestFirst } from './enriched-columns.js';
import { DAY_MS, limitSchema, resolveWindow, windowFields, withinWindow } from './inputs.js';

export const killsWithModuleTagsInput = z
  .object({
    /** Every one of these tags must be on the killmail. */
    tags: z.array(z.string().min(1).max(100)).min(1, 'give at least one tag').max(50),
    ...windowFields,
    limit: limitSchema(500, 50),
  })
  .strict();
export type KillsWithModuleTagsInput = z.input<typeof killsWithModuleTagsInput>;

/**
 * Kills whose module_tags contain all the given tags, within [from, to) (default: the last 24
 * hours), newest first. Prunes: the window's two bounds. Index, by the planner's estimate of the
 * tags: for rare tags the GIN idx_killmails_enriched_module_tags (`module_tags @> $tags`), a
 * bitmap scan per month kept; for common ones idx_killmails_enriched_time, the window read
 * newest first until `limit` rows match.
 */
export function killsWithModuleTagsQuery(
  db: AnyPgDatabase,
  input: KillsWithModuleTagsInput,
  now?: Date,
) {
  const i = parseQueryInput('killsWithModuleTags', killsWithModuleTagsInput, input);
  const window = resolveWindow('killsWithModuleTags', i, DAY_MS, now);
  const e = killmailsEnriched;
  return db
    .select(enrichedColumns)
    .from(e)
    .where(and(arrayContains(e.moduleTags, i.tags), withinWindow(e.killmailTime, window)))
    .orderBy(...enrichedNewestFirst)
    .limit(i.limit);
}

export async function killsWithModuleTags(
  db: AnyPgDatabase,
  input: KillsWithModuleTagsInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('killsWithModuleTags', options);
  return await runQuery('killsWithModuleTags', () =>
    sendQuery('killsWithModuleTags', killsWithModuleTagsQuery(db, input), o),
  );
}
