import { is, sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import {
  noteOperationsTable,
  OPERATIONS_TABLE,
  type OperationKind,
  operationsFromRows,
  operationsSetupSql,
  operationsSql,
  operationsTableSeen,
  type RecordedOperation,
} from '../catalog/operations.js';
import { familyIdentity } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { quoteQualified } from '../sql/identifiers.js';
import { textLiteral } from '../sql/literals.js';
import type { AnyPgDatabase } from './database.js';
import { sendsTogether } from './driver-capabilities.js';
import { afterSentOn, run, runEachSent } from './execute.js';
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

export interface KeyOperation<A = undefined> {
  kind: OperationKind;
  /** A record of this same operation was left by an earlier, interrupted run: resume it. */
  resuming: RecordedOperation | null;
  /**
   * What `readAhead` (withKeyOperation's option) read, sent right behind the lock statement and
   * the records' read; undefined where those are not sent ahead. The server runs it after the
   * lock statement: with the key's lock held.
   */
  readAhead: Promise<A> | undefined;
  /**
   * Records the operation (before its first change); idempotent. `detail` is what a resume
   * needs to do the same (retire: its mode).
   */
  begin(phase: string, detail?: string): Promise<void>;
  /** Records the phase reached. */
  phase(phase: string): Promise<void>;
  /**
   * Replaces the record's detail (a drain: how its last run failed, or null) and says whether
   * there is a record to hold it; a failure to write it is left to the caller.
   */
  note(detail: string | null): Promise<boolean>;
  /**
   * Deletes the record now: the operation is complete. Only operations that span several runs
   * (`spansRuns`) need it; the others' records are deleted when their function returns.
   */
  end(): Promise<void>;
  /**
   * The record's writes as statements for a transaction of the caller's, so they commit with its
   * change (and as durably), without a round trip of their own: `begin` (its table created when
   * missing; with recordWithoutFlushWait the whole transaction's commit does not wait for the
   * WAL flush either: only for one that changes nothing else), the phase reached (unless it is
   * the one recorded), or with `end` the record's deletion. Call `committed()` once that
   * transaction committed. Empty before `begin`, except `begin`.
   */
  writesWith(change: {
    begin?: { phase: string; detail?: string };
    phase?: string;
    end?: boolean;
  }): {
    statements: string[];
    committed(): void;
  };
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

/** The 'busy' refusals because another session holds the key (or the family) right now. */
const heldNow = new WeakSet<object>();

/**
 * Marks a 'busy' refusal as one because another session is at work right now (isKeyHeldRightNow):
 * apply skips the step rather than failing it. Also for a drain refused because another key's
 * drain of the family runs (the family's drains share DEFAULT).
 */
export function heldRightNow(error: PgpartsError): PgpartsError {
  heldNow.add(error);
  return error;
}

/**
 * Whether `error` refused an operation because another session is working on its key right now
 * (not because of a record another operation left): what the next run takes up by itself.
 */
export function isKeyHeldRightNow(error: unknown): boolean {
  return typeof error === 'object' && error !== null && heldNow.has(error);
}

/** How to finish what another operation left on a key, for the 'busy' message. */
function howToFinish(op: RecordedOperation, family: string): string {
  switch (op.operation) {
    case 'drain':
      return 'finish it with `pgparts drain` or `pgparts apply`';
    case 'retire':
      return 'finish it with `pgparts retire` (or `pgparts apply --yes`)';
    case 'reattach':
      return 'finish it with `pgparts reattach`';
    case 'convert':
      return `finish the conversion with \`pgparts convert ${family} --all\` (then cleanup)`;
  }
}

/**
 * Runs `fn` holding the key's lock, as operation `kind`. Refuses with PgpartsError 'busy' when
 * another session holds the key or another operation's record is on it (for a key: its own
 * record or the family's; for WHOLE_FAMILY_KEY: any record of the family). The record is deleted
 * when `fn` returns, unless `spansRuns` (then by `op.end()`); kept (with its last phase) when it
 * throws after `begin`.
 */
export async function withKeyOperation<T, A = undefined>(
  db: AnyPgDatabase,
  family: { schema: string; name: string },
  key: string,
  kind: OperationKind,
  fn: (op: KeyOperation<A>) => Promise<T>,
  options: {
    spansRuns?: boolean;
    /**
     * The operation's first reads, where they can be sent before the lock statement's reply
     * (with the records' read): one round trip fewer. `fn` finds their answer in
     * `op.readAhead`; it is for an operation that starts fresh, not for one resumed.
     */
    readAhead?: (s: AnyPgDatabase) => Promise<A>;
    /**
     * The record's writes (begin, phase, end) commit without waiting for the WAL flush; only
     * for an operation that runs them outside any transaction of its own and whose every change
     * commits durably after them. The WAL is written in order, so that change's flush makes the
     * records before it durable too; a crash can lose only records written after the last
     * durable change: the record then shows an earlier phase or an operation already finished,
     * and the next run resumes from what the catalog shows (a finished step is skipped).
     */
    recordWithoutFlushWait?: boolean;
    /**
     * The command named in refusals when it is not `kind` (unretire holds a key as a reattach
     * does, but the user ran unretire).
     */
    label?: string;
  } = {},
): Promise<T> {
  const named = options.label ?? kind;
  const identity = familyIdentity(family);
  const wholeFamily = key === WHOLE_FAMILY_KEY;
  const where = wholeFamily ? `family ${family.name}` : `family ${family.name}, key ${key}`;
  const session = await openSession(db);
  const s = session.db;
  // The locks' and records' statements carry their values as literals: a parameterized statement
  // costs postgres.js a round trip of its own to describe it, the first time on a connection.
  const lockArgs = sql.raw(
    `hashtext(${textLiteral(`pgparts:key:${identity}`)}), hashtext(${textLiteral(key)})`,
  );
  const familyLockArgs = sql.raw(
    `hashtext(${textLiteral(`pgparts:key:${identity}`)}), hashtext(${textLiteral(WHOLE_FAMILY_KEY)})`,
  );
  let locked = false;
  let familyShared = false;
  let readAhead: Promise<A> | undefined;
  let unlocked = false;
  /** Both locks given back in one statement. */
  const unlock = async () => {
    if (!locked && !familyShared) return;
    const releases = [
      ...(locked ? [sql`pg_advisory_unlock(${lockArgs})`] : []),
      ...(familyShared ? [sql`pg_advisory_unlock_shared(${familyLockArgs})`] : []),
    ];
    await s.execute(sql`SELECT ${sql.join(releases, sql`, `)}`);
  };
  try {
    // One statement takes both locks: the family's shared first, and the key's only once that is
    // held (CASE evaluates its branch after its condition); null when the family's was refused.
    // It also says whether the operations record's table exists.
    const operationsTable = sql.raw(
      `to_regclass(${textLiteral(quoteQualified(family.schema, OPERATIONS_TABLE))}) IS NOT NULL AS t`,
    );
    const lockStatement = s.execute(
      wholeFamily
        ? sql`SELECT pg_try_advisory_lock(${lockArgs}) AS ok, ${operationsTable}`
        : sql`SELECT CASE WHEN pg_try_advisory_lock_shared(${familyLockArgs})
                          THEN pg_try_advisory_lock(${lockArgs}) END AS ok, ${operationsTable}`,
    );
    const readOperationsRows = async () =>
      rowsOf<Record<string, unknown>>(
        await s.execute(operationsSql(family, undefined, { literals: true })),
      );
    // Where statements go out together, the family's records are read right behind the lock
    // statement, not one round trip later: the read is a statement of its own, so its snapshot
    // is taken once the locks are held. Its rows count only when the locks were taken and the
    // table exists (the lock statement's reply says both); its failure counts only then too.
    // Not in a transaction, where a failed read (no table yet) would abort what follows.
    // Only where the table is known to exist (operationsTableSeen): sent where it does not, the
    // read fails and the server logs an ERROR for it.
    const readEarly =
      sendsTogether(s) && !is(s, PgTransaction) && operationsTableSeen(s, family.schema);
    const [lockRows, early] = await afterSentOn(s, lockStatement, async () => {
      if (!readEarly) return undefined;
      const records = readOperationsRows().then(
        (rows) => ({ rows }),
        (error: unknown) => ({ error }),
      );
      readAhead = options.readAhead?.(s);
      readAhead?.catch(() => {}); // read by fn, or left: settled before the unlock below
      return records;
    });
    const [got] = rowsOf<{ ok: boolean | null; t: boolean }>(lockRows);
    if (!wholeFamily && (got?.ok === null || got?.ok === undefined)) {
      throw heldRightNow(
        new PgpartsError(
          'busy',
          `${named}: ${where}: a pgparts operation on the whole family (a conversion step) is ` +
            'running right now; nothing was changed: try again when it is done',
          { step: named },
        ),
      );
    }
    familyShared = !wholeFamily;
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
      throw heldRightNow(
        new PgpartsError(
          'busy',
          `${named}: ${where}: another pgparts operation is working on this key right now` +
            `${holder ? ` (backend pid ${holder.pid})` : ''}; nothing was changed: try again when it is done`,
          { step: named },
        ),
      );
    }
    locked = true;
    // The family's records in one read: this key's, and what blocks it (the whole family's
    // operation for a key; any key's for the whole family).
    let tableExists = false;
    /** The records' table exists: known here, and to this process's later operations. */
    const tableFound = () => {
      tableExists = true;
      noteOperationsTable(s, family.schema);
    };
    if (got.t === true) tableFound();
    const operationRows = async () => {
      if (early === undefined) return readOperationsRows();
      if ('error' in early) throw early.error;
      return early.rows;
    };
    const read = {
      operations: tableExists ? operationsFromRows(await operationRows()) : [],
    };
    const recorded = read.operations.find((o) => o.key === key);
    const [blocking] = wholeFamily
      ? read.operations.filter((o) => o.key !== WHOLE_FAMILY_KEY)
      : read.operations.filter((o) => o.key === WHOLE_FAMILY_KEY);
    if (blocking && blocking.operation !== kind) {
      throw new PgpartsError(
        'busy',
        `${named}: ${where}: ${describe(blocking)} is on this family; nothing was changed: ` +
          `${howToFinish(blocking, family.name)} first`,
        { step: named },
      );
    }
    if (recorded && recorded.operation !== kind) {
      throw new PgpartsError(
        'busy',
        `${named}: ${where}: ${describe(recorded)} holds this key; nothing was changed: ` +
          `${howToFinish(recorded, family.name)} first`,
        { step: named },
      );
    }
    let begun = recorded !== undefined;
    /** The phase the record holds, as far as this run wrote it. */
    let recordedPhase = recorded?.phase;
    const table = quoteQualified(family.schema, OPERATIONS_TABLE);
    const lit = textLiteral;
    const mine = `family = ${lit(family.name)} AND key = ${lit(key)} AND operation = ${lit(kind)}`;
    // recordWithoutFlushWait: each record statement is its own transaction whose commit does not
    // wait for the WAL flush (set_config local to it, joined in so that it is evaluated).
    const noFlushWait = options.recordWithoutFlushWait
      ? `WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS v) `
      : '';
    const fromNoFlushWait = options.recordWithoutFlushWait ? ' FROM no_flush_wait' : '';
    const phaseSet = (phase: string) =>
      `SET phase = ${lit(phase)}, updated_at = now(), backend_pid = pg_backend_pid()`;
    const insertSql = (phase: string, detail: string | undefined) =>
      `${noFlushWait}INSERT INTO ${table} AS o (family, key, operation, phase, detail, backend_pid)
        SELECT ${lit(family.name)}, ${lit(key)}, ${lit(kind)}, ${lit(phase)}, ${detail === undefined ? 'NULL' : lit(detail)}, pg_backend_pid()${fromNoFlushWait}
        ON CONFLICT (family, key) DO UPDATE
        SET phase = EXCLUDED.phase, updated_at = now(), backend_pid = EXCLUDED.backend_pid,
            detail = coalesce(o.detail, EXCLUDED.detail)`;
    const op: KeyOperation<A> = {
      kind,
      resuming: recorded ?? null,
      readAhead,
      begin: async (phase, detail) => {
        const insert = () => run(s, insertSql(phase, detail));
        // The record's table: created on first use (its CREATE sent right ahead of the INSERT:
        // should it fail, so does the INSERT, and the CREATE's error is the one reported), left
        // alone once it exists.
        if (tableExists) await insert();
        else {
          await afterSentOn(s, runEachSent(s, operationsSetupSql(family.schema)), insert);
        }
        tableFound();
        begun = true;
        recordedPhase = phase;
      },
      phase: async (phase) => {
        if (!begun) return;
        await run(
          s,
          `${noFlushWait}UPDATE ${table} ${phaseSet(phase)}${fromNoFlushWait} WHERE ${mine}`,
        );
        recordedPhase = phase;
      },
      note: async (detail) => {
        if (!begun) return false;
        await run(
          s,
          `${noFlushWait}UPDATE ${table} SET detail = ${detail === null ? 'NULL' : lit(detail)}, updated_at = now()${fromNoFlushWait} WHERE ${mine}`,
        );
        return true;
      },
      end: async () => {
        if (!begun) return;
        await run(
          s,
          `${noFlushWait}DELETE FROM ${table}${options.recordWithoutFlushWait ? ' USING no_flush_wait' : ''} WHERE ${mine}`,
        );
        begun = false;
      },
      writesWith: (change) => {
        const statements: string[] = [];
        const { begin } = change;
        // In the caller's transaction: no synchronous_commit of their own, its commit is theirs.
        if (begin) {
          if (!tableExists) statements.push(...operationsSetupSql(family.schema));
          statements.push(insertSql(begin.phase, begin.detail));
        } else if (begun && change.end) statements.push(`DELETE FROM ${table} WHERE ${mine}`);
        else if (begun && change.phase !== undefined && change.phase !== recordedPhase)
          statements.push(`UPDATE ${table} ${phaseSet(change.phase)} WHERE ${mine}`);
        return {
          statements,
          committed: () => {
            if (statements.length === 0) return;
            if (begin) {
              tableFound();
              begun = true;
              recordedPhase = begin.phase;
            } else if (change.end) begun = false;
            else if (change.phase !== undefined) recordedPhase = change.phase;
          },
        };
      },
    };
    const result = await fn(op);
    if (!options.spansRuns && begun) {
      // The record's deletion and the unlock go out together (the unlock runs after it).
      unlocked = true;
      await afterSentOn(s, op.end(), () => unlock().catch(() => {}));
    }
    return result;
  } finally {
    // A read sent ahead and not waited for (the lock was refused, the operation resumed) ends
    // before the connection is used for anything else.
    await readAhead?.catch(() => {});
    if (!unlocked) {
      const unlocking = unlock().catch(() => {});
      // On the caller's own pinned connection (nothing is given back here) the unlock is not
      // waited for: what the caller sends next goes out right behind it and runs after it.
      if (session.kind !== 'as-given' || !sendsTogether(s)) await unlocking;
    }
    await session.release();
  }
}
