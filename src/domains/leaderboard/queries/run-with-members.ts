import { and, asc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { PgpartsError } from '../../../errors.js';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import { parseQueryOptions, type QueryOptions, sendQuery } from '../../../query/prepared.js';
import type { AnyPgDatabase } from '../../../run/database.js';
import {
  type LeaderboardRun,
  leaderboardRun,
  type RunGroupMember,
  runGroupMember,
} from '../tables.js';
import { idSchema } from './inputs.js';

export const runWithMembersInput = z
  .object({
    runGuid: z.guid('runGuid must be a GUID like 7f9c2b1e-...'),
    /** Known season: one partition is read. Unknown: every partition's run_guid index is probed. */
    seasonId: idSchema.optional(),
  })
  .strict();
export type RunWithMembersInput = z.input<typeof runWithMembersInput>;

export type RunWithMembers = LeaderboardRun & { members: RunGroupMember[] };

/**
 * The run lookup. With a season: season_id = $1 prunes to one partition and the unique key
 * (season_id, run_guid) finds the row. Without: nothing to prune by, so
 * idx_leaderboard_run_run_guid is probed in each partition (one index probe each); run_guid is
 * unique per season only (docs/postgres-behaviours.md#unique-keys-include-the-partition-key), so up to two rows are read to detect an ambiguous guid.
 */
export function runByGuidQuery(db: AnyPgDatabase, input: RunWithMembersInput) {
  const i = parseQueryInput('runWithMembers', runWithMembersInput, input);
  const r = leaderboardRun;
  return db
    .select()
    .from(r)
    .where(
      and(
        eq(r.runGuid, i.runGuid),
        i.seasonId === undefined ? undefined : eq(r.seasonId, i.seasonId),
      ),
    )
    .limit(2);
}

/** The members, always WITH the season (taken from the run found), so they prune to one partition. */
export function runMembersQuery(db: AnyPgDatabase, run: { seasonId: number; runGuid: string }) {
  const m = runGroupMember;
  return db
    .select()
    .from(m)
    .where(and(eq(m.seasonId, run.seasonId), eq(m.runGuid, run.runGuid)))
    .orderBy(asc(m.characterName));
}

/** One run and its group members by run_guid; null when no run has it. */
export async function runWithMembers(
  db: AnyPgDatabase,
  input: RunWithMembersInput,
  options?: QueryOptions,
): Promise<RunWithMembers | null> {
  const o = parseQueryOptions('runWithMembers', options);
  const runs = await runQuery('runWithMembers', () =>
    sendQuery('runWithMembers', runByGuidQuery(db, input), o),
  );
  const [run, other] = runs;
  if (!run) return null;
  if (other) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: run_guid ${run.runGuid} exists in leaderboard_run for seasons ${run.seasonId} and ` +
        `${other.seasonId} (it is unique per season only); pass seasonId to choose one`,
      { docs: 'docs/postgres-behaviours.md#unique-keys-include-the-partition-key' },
    );
  }
  const members = await runQuery('runWithMembers', () =>
    sendQuery('runWithMembers', runMembersQuery(db, run), o),
  );
  return { ...run, members };
}
