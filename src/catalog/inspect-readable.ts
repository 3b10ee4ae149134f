import { type FamilySpec, parseFamilies } from '../define/spec.js';
import { isPgpartsError, type PgpartsError } from '../errors.js';
import { checkDatabase } from '../run/check-database.js';
import type { AnyPgDatabase } from '../run/database.js';
import { type InspectOptions, inspect } from './inspect.js';
import type { Snapshot } from './snapshot.js';

/** A family whose catalog read gave up on a lock, with the error it gave up with. */
export interface UnreadableFamily {
  family: string;
  schema: string;
  error: PgpartsError;
}

/** What inspectReadable read: the snapshot of the families it could read, and the others. */
export interface ReadableSnapshot {
  snapshot: Snapshot;
  /** The families in `snapshot`, in the order given. */
  readable: FamilySpec[];
  /** The families whose read gave up on a lock (code `lock-timeout`), in the order given. */
  unreadable: UnreadableFamily[];
}

/**
 * inspect for the readers that report (status, the metrics): one family's table locked by
 * another session (a long ALTER, VACUUM FULL or LOCK TABLE on its DEFAULT) no longer hides every
 * other family. All families are read at once, as inspect does; when that read gives up on a
 * lock, each family is read on its own, once (its lock_timeout, no retries: the read of all of
 * them has retried already), and the families whose own read gives up are returned as
 * unreadable. Throws as inspect does when the error is not a lock timeout, when there is one
 * family, or when no family could be read. apply and plan keep inspect: they need every family.
 */
export async function inspectReadable(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: InspectOptions = {},
): Promise<ReadableSnapshot> {
  checkDatabase('status', db);
  const specs = parseFamilies(families);
  try {
    return { snapshot: await inspect(db, specs, options), readable: specs, unreadable: [] };
  } catch (error) {
    if (!isPgpartsError(error, 'lock-timeout') || specs.length < 2) throw error;
    const snapshots: Snapshot[] = [];
    const readable: FamilySpec[] = [];
    const unreadable: UnreadableFamily[] = [];
    for (const family of specs) {
      try {
        snapshots.push(await inspect(db, [family], { ...options, retries: 0 }));
        readable.push(family);
      } catch (own) {
        if (!isPgpartsError(own, 'lock-timeout')) throw own;
        unreadable.push({ family: family.name, schema: family.schema, error: own });
      }
    }
    const first = snapshots[0];
    if (!first) throw error;
    return {
      snapshot: {
        // The earliest read's clock: status plans every family for one instant.
        takenAt: new Date(Math.min(...snapshots.map((s) => s.takenAt.getTime()))),
        serverVersion: first.serverVersion,
        families: snapshots.flatMap((s) => s.families),
      },
      readable,
      unreadable,
    };
  }
}
