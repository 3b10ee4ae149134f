import { type ApplyOptions, type ApplyResult, apply } from './core/apply.js';
import type { AnyPgDatabase } from './core/database.js';
import type { FamilySpec } from './core/spec.js';
import { builtInFamilies } from './families.js';
import { leaderboardFamily } from './leaderboard/partitioning.js';

export interface MaintainOptions extends Omit<ApplyOptions, 'families'> {
  /** Default: the package's own families (leaderboard, killmails). */
  families?: readonly FamilySpec[];
}

/**
 * One call for an app's start-up or a cron job: creates what is missing (new seasons, the premake
 * window), drains DEFAULT where a key got its own partitions, and plans retention, all under the
 * maintenance lock (a second instance returns `status: 'locked'` and does nothing). Retention
 * runs only with `allowDestructive: true`. Returns what it did, step by step.
 */
export function maintain(db: AnyPgDatabase, options: MaintainOptions = {}): Promise<ApplyResult> {
  return apply(db, { ...options, families: options.families ?? builtInFamilies });
}

/**
 * Gives every row of `season` (announced seasons too) its partitions in leaderboard_run and
 * run_group_member; call it after inserting a season. Never removes anything.
 */
export function ensureSeasonPartitions(
  db: AnyPgDatabase,
  options: Omit<MaintainOptions, 'families' | 'retention' | 'allowDestructive'> = {},
): Promise<ApplyResult> {
  return apply(db, { ...options, families: [leaderboardFamily], retention: false });
}
