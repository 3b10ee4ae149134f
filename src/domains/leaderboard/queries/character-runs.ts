import { and, desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import { leaderboardRun, runGroupMember } from '../tables.js';
import { idSchema, limitSchema } from './inputs.js';
import { rankedRunColumns } from './ranked-run.js';

export const characterRunsInput = z
  .object({
    seasonId: idSchema,
    characterName: z.string().min(1).max(64, 'characterName is at most 64 characters'),
    limit: limitSchema(1000, 100),
  })
  .strict();
export type CharacterRunsInput = z.input<typeof characterRunsInput>;

/**
 * A character's runs in a season, newest first, with the role they played. Prunes both tables:
 * season_id = $1 on each side. Index: idx_run_group_member_season_character finds the member
 * rows, then each run is fetched through its unique key (season_id, run_guid).
 */
export function characterRunsQuery(db: AnyPgDatabase, input: CharacterRunsInput) {
  const i = parseQueryInput('characterRuns', characterRunsInput, input);
  const r = leaderboardRun;
  const m = runGroupMember;
  return db
    .select({ ...rankedRunColumns, classId: m.classId, specId: m.specId, role: m.role })
    .from(m)
    .innerJoin(r, and(eq(r.seasonId, m.seasonId), eq(r.runGuid, m.runGuid)))
    .where(
      and(
        eq(m.seasonId, i.seasonId),
        eq(r.seasonId, i.seasonId),
        eq(m.characterName, i.characterName),
      ),
    )
    .orderBy(desc(r.completedAt), desc(r.id))
    .limit(i.limit);
}

export async function characterRuns(
  db: AnyPgDatabase,
  input: CharacterRunsInput,
  options?: QueryOptions,
) {
  const o = parseQueryOptions('characterRuns', options);
  return await runQuery('characterRuns', () =>
    sendQuery('characterRuns', characterRunsQuery(db, input), o),
  );
}
