import { PgpartsError } from '../../errors.js';
import { type DrainOptions, type DrainResult, drainKey } from '../../ops/drain/drain.js';
import { type ReattachResult, reattachKey } from '../../ops/reattach.js';
import { type RetireOptions, type RetireResult, retireKey } from '../../ops/retention.js';
import { type ApplyOptions, type ApplyResult, apply } from '../../run/apply.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { leaderboardFamily } from './partitioning.js';

function season(n: number) {
  if (!Number.isSafeInteger(n))
    throw new PgpartsError('invalid-input', `pgparts: a season is an integer, not ${n}`);
  return { kind: 'list', value: n } as const;
}

/**
 * Removes a season's partitions from leaderboard_run and run_group_member (members first), or
 * archives them (`mode: 'archive'`). Only partitions pgparts created; the foreign key stays.
 */
export function dropSeason(
  db: AnyPgDatabase,
  n: number,
  options: RetireOptions = {},
): Promise<RetireResult> {
  return retireKey(db, leaderboardFamily, season(n), options);
}

/** Brings an archived season back into both tables. */
export function reattachSeason(db: AnyPgDatabase, n: number): Promise<ReattachResult> {
  return reattachKey(db, leaderboardFamily, season(n));
}

/** Moves a season that landed in DEFAULT into its own partitions, online. */
export function drainSeason(
  db: AnyPgDatabase,
  n: number,
  options: DrainOptions = {},
): Promise<DrainResult> {
  return drainKey(db, leaderboardFamily, season(n), options);
}

/** How long ensureSeasonPartitions waits for a maintenance run in progress, by default. */
export const ENSURE_SEASON_WAIT_FOR_LOCK_MS = 30_000;

/**
 * Gives every row of `season` (announced seasons too) its partitions in leaderboard_run and
 * run_group_member; call it after inserting a season. Never removes anything.
 *
 * A maintenance run in progress (cron's, another instance's) may have read the seasons before
 * this one was inserted, so it is waited for (`waitForLockMs`, default 30 s), and this one then
 * runs. `status: 'locked'` means it was still running then: the partitions may not exist yet
 * (rows of the season go to DEFAULT meanwhile, and a later run moves them).
 */
export function ensureSeasonPartitions(
  db: AnyPgDatabase,
  options: Omit<ApplyOptions, 'families' | 'retention' | 'allowDestructive'> = {},
): Promise<ApplyResult> {
  return apply(db, {
    ...options,
    waitForLockMs: options.waitForLockMs ?? ENSURE_SEASON_WAIT_FOR_LOCK_MS,
    families: [leaderboardFamily],
    retention: false,
  });
}
