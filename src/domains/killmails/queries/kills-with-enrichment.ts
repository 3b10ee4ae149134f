import { and, sql } from 'drizzle-orm';
import { z } from 'zod';
import { boundedJsonSchema, parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { killmailsEnriched } from '../tables.js';
import { enrichedColumns, enrichedNewestFirst } from './enriched-columns.js';
import { DAY_MS, limitSchema, resolveWindow, windowFields, withinWindow } from './inputs.js';

/**
 * A JSON object or array to look for; bounded (depth, values, characters) so a caller cannot
 * send megabytes of it or nest it deep enough to exhaust the stack.
 */
const fragmentSchema = boundedJsonSchema({ maxDepth: 32, maxNodes: 2_000 }).refine(
  (value) => JSON.stringify(value).length <= 10_000,
  'the fragment is over 10000 characters',
);

export const killsWithEnrichmentInput = z
  .object({ fragment: fragmentSchema, ...windowFields, limit: limitSchema(500, 50) })
  .strict();
export type KillsWithEnrichmentInput = z.input<typeof killsWithEnrichmentInput>;

/**
 * Kills whose enrichment JSON contains `fragment` (`enrichment_blob @> $1::jsonb`), within
 * [from, to) (default: the last 24 hours), newest first. Prunes: the window's two bounds. Index,
 * by the planner's estimate of the fragment: for a rare one the GIN idx_killmails_enriched_blob
 * (jsonb_path_ops, which serves exactly @>); for a common one idx_killmails_enriched_time, the
 * window read newest first until `limit` rows match.
 */
export function killsWithEnrichmentQuery(
  db: AnyPgDatabase,
  input: KillsWithEnrichmentInput,
  now?: Date,
) {
  const i = parseQueryInput('killsWithEnrichment', killsWithEnrichmentInput, input);
  const window = resolveWindow('killsWithEnrichment', i, DAY_MS, now);
  const e = killmailsEnriched;
  return db
    .select({ ...enrichedColumns, enrichmentBlob: e.enrichmentBlob })
    .from(e)
    .where(
      and(
        sql`${e.enrichmentBlob} @> ${JSON.stringify(i.fragment)}::jsonb`,
        withinWindow(e.killmailTime, window),
      ),
    )
    .orderBy(...enrichedNewestFirst)
    .limit(i.limit);
}

export async function killsWithEnrichment(
  db: AnyPgDatabase,
  input: KillsWithEnrichmentInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('killsWithEnrichment', options);
  return await runQuery('killsWithEnrichment', () =>
    sendQuery('killsWithEnrichment', killsWithEnrichmentQuery(db, input), o),
  );
}
