import type { FamilySpec } from '../define/spec.js';
import { type ApplyOptions, type ApplyResult, applyAs } from './apply.js';
import type { AnyPgDatabase } from './database.js';

export interface MaintainOptions extends Omit<ApplyOptions, 'families'> {
  /** The families to keep: the app's own, and any preset it uses (`pgparts/presets`). */
  families: readonly FamilySpec[];
}

/**
 * One call for an app's start-up or a cron job: creates what is missing (new LIST values, the
 * premake window), drains DEFAULT where a key got its own partitions, and plans retention, all
 * under the maintenance lock (a second instance returns `status: 'locked'` and does nothing).
 * Retention runs only with `allowDestructive: true`. Returns what it did, step by step: a step
 * that failed is in the result, never thrown. Throws (a PgpartsError, nothing changed) only when
 * the run cannot start: the catalog read gave up on a lock (`lock-timeout`), the connection
 * failed, the server or a privilege does not allow it, a family does not match its table.
 */
export function maintain(db: AnyPgDatabase, options: MaintainOptions): Promise<ApplyResult> {
  return applyAs('maintain', db, options);
}
