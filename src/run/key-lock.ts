import { sql } from 'drizzle-orm';
import {
  OPERATIONS_TABLE,
  type OperationKind,
  operationsSetupSql,
  type RecordedOperation,
  readOperationsTable,
} from '../catalog/operations.js';
import { familyIdentity } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { quoteQualified } from '../sql/identifiers.js';
import type { AnyPgDatabase } from './database.js';
import { run } from './execute.js';
import { rowsOf } from './rows.js';
import { openSession } from './session.js';

/**
 * One operation per key at a time, and one state machine per key.
 *
 * - The key's lock: a session-level advisory lock on a connection pinned for the operation,
 *   derived from the family's identity (schema.name) and the key. pg_try_advisory_lock never
 *   waits: a second operation on the key is refused at once ('busy'). The server releases the
 *   lock if the process or its connection dies.
 * - The key's record (catalog/operations.ts): written before the operation's first change, its
 *   phase updated as it goes, deleted when it finishes. A record left by a crash belongs to the
 *   operation that wrote it: the same operation resumes it (a drain is finished by the next drain
 *   or apply); any other operation is refused until then (a retire never drops a drain's tables).
 *
 * In pg_locks the key's lock is `locktype = 'advisory' AND objsubid = 2` with classid
 * `hashtext('pgparts:key:' || <schema.family>)` and objid `hashtext(<key>)`.
 */

export interface KeyOperation {
  kind: OperationKind;
  /** A record of this same operation was left by an earlier, interrupted run: resume it. */
  resuming: RecordedOperation | null;
  /**
   * Records the operation (before its first change); idempotent. `detail` is what a resume
   * needs to do the same (retire: its mode).
   */
  begin(phase: string, detail?: string): Promise<void>;
  /** Records the phase reached. */
  phase(phase: string): Promise<void>;
  /**
   * Deletes the record now: the operation is complete. Only operations that span several runs
   * (`spansRuns`) need it; the others' records are deleted when their function returns.
   */
  end(): Promise<void>;
}

/**
 * The key a family-wide operation (a conversion) is recorded and locked under. It is no key's
 * label (labels are numbers, strings and dates), so it never meets a drain's or retire's key.
 * Every key operation holds this lock shared while it runs; a family-wide one holds it
 * exclusively, so neither starts while the other runs.
 */
export const WHOLE_FAMILY_KEY = '(whole family)';

function describe(op: RecordedOperation): string {
  return `an unfinished ${op.operation} of key ${op.key} (phase ${op.phase}, started ${op.startedAt.toISOString()})`;
}

/** How to finish what another operation left on a key, for the 'busy' message. */
function howToFinish(op: RecordedOperation): string {
  switch (op.operation) {
    case 'drain':
      return 'finish it with `pgparts drain` or `pgparts apply`';
    case 'retire':
      return 'finish it with `pgparts retire` (or `pgparts apply --yes`)';
    case 'reattach':
      return 'finish it with `pgparts reattach`';
    case 'convert':
      return 'finish the conversion with `pgparts convert <family> --all` (then cleanup)';
  }
}

/**
 * Runs `fn` holding the key's lock, as operation `kind`. Refuses with PgpartsError 'busy' when
 * another session holds the key or another operation's record is on it (for a key: its own
 * record or the family's; for WHOLE_FAMILY_KEY: any record of the family). The record is deleted
 * when `fn` returns, unless `spansRuns` (then by `op.end()`); kept (with its last phase) when it
 * throws after `begin`.
 */
export async function withKeyOperation<T>(
  db: AnyPgDatabase,
  family: { schema: string; name: string },
  key: string,
  kind: OperationKind,
  fn: (op: KeyOperation) => Promise<T>,
  options: {
    spansRuns?: boolean;
    /**
     * The record's writes (begin, phase, end) commit without waiting for the WAL flush; only
     * for an operation that runs them outside any transaction of its own and whose every change
     * commits durably after them. The WAL is written in order, so that change's flush makes the
     * records before it durable too; a crash can lose only records written after the last
     * durable change: the record then shows an earlier phase or an operation already finished,
     * and the next run resumes from what the catalog shows (a finished step is skipped).
     */
    recordWithoutFlushWait?: boolean;
  } = {},
): Promise<T> {
  const identity = familyIdentity(family);
  const wholeFamily = key === WHOLE_FAMILY_KEY;
  const where = wholeFamily ? `family ${family.name}` : `family ${family.name}, key ${key}`;
  const session = await openSession(db);
  const s = session.db;
  const lockArgs = sql`hashtext(${`pgparts:key:${identity}`}), hashtext(${key})`;
  const familyLockArgs = sql`hashtext(${`pgparts:key:${identity}`}), hashtext(${WHOLE_FAMILY_KEY})`;
  let locked = false;
  let familyShared = false;
  try {
    if (!wholeFamily) {
      const [shared] = rowsOf<{ ok: boolean }>(
        await s.execute(sql`SELECT pg_try_advisory_lock_shared(${familyLockArgs}) AS ok`),
      );
      if (!shared?.ok) {
        throw new PgpartsError(
          'busy',
          `${kind}: ${where}: a pgparts operation on the whole family (a conversion step) is ` +
            'running right now; nothing was changed: try again when it is done',
          { step: kind },
        );
      }
      familyShared = true;
    }
    const [got] = rowsOf<{ ok: boolean }>(
      await s.execute(sql`SELECT pg_try_advisory_lock(${lockArgs}) AS ok`),
    );
    if (!got?.ok) {
      const [holder] = rowsOf<{ pid: number }>(
        await s.execute(sql`
          SELECT pid FROM pg_locks
          WHERE locktype = 'advisory' AND granted AND objsubid = 2
            AND classid::bigint = (hashtext(${`pgparts:key:${identity}`})::bigint & 4294967295)
            AND objid::bigint = (hashtext(${key})::bigint & 4294967295)
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          LIMIT 1`),
      );
      throw new PgpartsError(
        'busy',
        `${kind}: ${where}: another pgparts operation is working on this key right now` +
          `${holder ? ` (backend pid ${holder.pid})` : ''}; nothing was changed: try again when it is done`,
        { step: kind },
      );
    }
    locked = true;
    // The family's records in one read: this key's, and what blocks it (the whole family's
    // operation for a key; any key's for the whole family).
    const read = await readOperationsTable(s, family);
    let tableExists = read.exists;
    const recorded = read.operations.find((o) => o.key === key);
    const [blocking] = wholeFamily
      ? read.operations.filter((o) => o.key !== WHOLE_FAMILY_KEY)
      : read.operations.filter((o) => o.key === WHOLE_FAMILY_KEY);
    if (blocking && blocking.operation !== kind) {
      throw new PgpartsError(
        'busy',
        `${kind}: ${where}: ${describe(blocking)} is on this family; nothing was changed: ` +
          `${howToFinish(blocking)} first`,
        { step: kind },
      );
    }
    if (recorded && recorded.operation !== kind) {
      throw new PgpartsError(
        'busy',
        `${kind}: ${where}: ${describe(recorded)} holds this key; nothing was changed: ` +
          `${howToFinish(recorded)} first`,
        { step: kind },
      );
    }
    let begun = recorded !== undefined;
    const table = sql.raw(quoteQualified(family.schema, OPERATIONS_TABLE));
    // recordWithoutFlushWait: each record statement is its own transaction whose commit does not
    // wait for the WAL flush (set_config local to it, joined in so that it is evaluated).
    const noFlushWait = options.recordWithoutFlushWait
      ? sql`WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS v) `
      : sql``;
    const fromNoFlushWait = options.recordWithoutFlushWait ? sql` FROM no_flush_wait` : sql``;
    const op: KeyOperation = {
      kind,
      resuming: recorded ?? null,
      begin: async (phase, detail) => {
        // The record's table: created on first use, left alone once it exists.
        if (!tableExists) {
          for (const statement of operationsSetupSql(family.schema)) await run(s, statement);
          tableExists = true;
        }
        await s.execute(
          sql`${noFlushWait}INSERT INTO ${table} AS o (family, key, operation, phase, detail, backend_pid)
              SELECT ${family.name}, ${key}, ${kind}, ${phase}, ${detail ?? null}, pg_backend_pid()${fromNoFlushWait}
              ON CONFLICT (family, key) DO UPDATE
              SET phase = EXCLUDED.phase, updated_at = now(), backend_pid = EXCLUDED.backend_pid,
                  detail = coalesce(o.detail, EXCLUDED.detail)`,
        );
        begun = true;
      },
      phase: async (phase) => {
        if (!begun) return;
        await s.execute(
          sql`${noFlushWait}UPDATE ${table} SET phase = ${phase}, updated_at = now(), backend_pid = pg_backend_pid()${fromNoFlushWait}
              WHERE family = ${family.name} AND key = ${key} AND operation = ${kind}`,
        );
      },
      end: async () => {
        if (!begun) return;
        await s.execute(
          sql`${noFlushWait}DELETE FROM ${table}${options.recordWithoutFlushWait ? sql` USING no_flush_wait` : sql``} WHERE family = ${family.name} AND key = ${key} AND operation = ${kind}`,
        );
        begun = false;
      },
    };
    const result = await fn(op);
    if (!options.spansRuns) await op.end();
    return result;
  } finally {
    if (locked) await s.execute(sql`SELECT pg_advisory_unlock(${lockArgs})`).catch(() => {});
    if (familyShared) {
      await s.execute(sql`SELECT pg_advisory_unlock_shared(${familyLockArgs})`).catch(() => {});
    }
    await session.release();
  }
}
