import type { FamilySpec } from '../../define/spec.js';
import { checkDatabase } from '../../run/check-database.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { type KeyOperation, WHOLE_FAMILY_KEY, withKeyOperation } from '../../run/key-lock.js';
import { asOperation } from '../../run/pg-error.js';
import { preflightPrivileges } from '../../run/privileges.js';
import { openSession, pgpartsSessionSettings } from '../../run/session.js';

/**
 * A conversion is one operation on the whole family, recorded in the same per-key operations
 * record as drains and retires (catalog/operations.ts, under WHOLE_FAMILY_KEY) from its prep to
 * its cleanup: `status` shows it, and a drain, retire or reattach of any key of the family is
 * refused until it ends (and a conversion is refused while one of those is unfinished).
 *
 * Each step runs on one pinned connection (pgparts's session settings: no statement_timeout or
 * idle timeout from the role, no JIT) holding the family's lock, so two steps never overlap.
 * Every step that changes something first checks the role's privileges (the same check as the
 * CLI's), so a step called from the API alone is refused before its first change too. A dry run
 * takes no lock, records nothing and checks nothing.
 */
export async function conversionStep<T>(
  db: AnyPgDatabase,
  family: FamilySpec,
  dryRun: boolean,
  fn: (s: AnyPgDatabase, op: KeyOperation | null) => Promise<T>,
): Promise<T> {
  checkDatabase(`convert ${family.name}`, db);
  // A server error of a step is thrown with a code, as every exported operation's is.
  return asOperation(`convert ${family.name}`, () => runStep(db, family, dryRun, fn));
}

async function runStep<T>(
  db: AnyPgDatabase,
  family: FamilySpec,
  dryRun: boolean,
  fn: (s: AnyPgDatabase, op: KeyOperation | null) => Promise<T>,
): Promise<T> {
  if (dryRun) return fn(db, null);
  await preflightPrivileges(db, 'convert', [family]);
  const session = await openSession(db, { settings: pgpartsSessionSettings() });
  try {
    return await withKeyOperation(
      session.db,
      family,
      WHOLE_FAMILY_KEY,
      'convert',
      (op) => fn(session.db, op),
      { spansRuns: true },
    );
  } finally {
    await session.release();
  }
}

/** Records the phase the conversion reached (the record is created by the first one). */
export async function recordPhase(op: KeyOperation | null, phase: string): Promise<void> {
  await op?.begin(phase);
}
