import { ownedRole } from '../../catalog/ownership.js';
import { keyLabel, type PartitionKey } from '../../define/partition-key.js';
import type { FamilySpec } from '../../define/spec.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { run } from '../../run/execute.js';
import { runLockedTransaction } from '../../run/lock-timeout.js';
import { identifierProblem, quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { keyCheckSql } from '../../sql/key-predicate.js';
import { textLiteral } from '../../sql/literals.js';
import { recordOwnedSql, setOwnedRoleSql } from '../../sql/ownership.js';
import { ownerSql, tablespaceSql } from '../../sql/partition-ddl.js';
import { statisticsTargetsSql } from '../../sql/statistics-targets.js';
import { likeParentSql } from './indexes.js';
import {
  DRAINED_DEFAULT_MARKER,
  type DrainState,
  type DrainTableState,
  drainedDefaultName,
  NEXT_DEFAULT_MARKER,
} from './state.js';

/**
 * The swap: how a drain leaves DEFAULT without deleting the moved rows from it. Beside the key's
 * staging tables, a drain builds for each DEFAULT its successor (`<default>_next`) holding every
 * other row of DEFAULT, copied and replayed online like the staging tables. The final
 * transaction then detaches the old DEFAULT partitions (every row of theirs is now in a staging
 * table or a successor; they are dropped right after the commit), attaches the successors as
 * DEFAULT and the staging tables for the key: catalog work, CHECK constraints sparing every
 * ATTACH its scan, so the locks are held for milliseconds whatever the number of rows moved.
 *
 * Detaching a DEFAULT that a foreign key points into runs the key's removal check over the
 * referencing table (docs/postgres-behaviours.md#detach-referenced-default), as long as the rows moved; so the family's own foreign keys
 * are dropped in that transaction and added back NOT VALID, which PostgreSQL 18 allows on
 * partitioned tables. While NOT VALID they still reject every new orphan; they are validated
 * right after the commit, online (SHARE UPDATE EXCLUSIVE: writers go on). A drain interrupted
 * after the commit drops the old DEFAULT partitions and validates the keys on its next run.
 */

export type DrainStrategy = 'swap' | 'delete';

/** CHECK names on the successor: the old DEFAULT's partition constraint, and "not the key". */
const DEFAULT_BOUND_CHECK = 'pgparts_default_bound';
const NOT_KEY_CHECK = 'pgparts_not_key';

/** Why a swap cannot be used here; empty when it can. */
export function swapObstacles(state: DrainState, tables: DrainTableState[]): string[] {
  const obstacles: string[] = [];
  const familyKeys = tables.some((t) => t.familyForeignKeys.length > 0);
  if (familyKeys && state.serverVersion < 180000) {
    obstacles.push(
      'the family has foreign keys between its tables, and adding them back NOT VALID on a partitioned table needs PostgreSQL 18',
    );
  }
  for (const t of tables) {
    if (t.referencedFromOutside) {
      obstacles.push(`a table outside the family has a foreign key to ${t.table}`);
    }
    if (t.defaultPartition && t.nextState === 'foreign') {
      obstacles.push(`a table named ${t.next} exists and was not made by a drain`);
    }
    // The swap detaches and renames DEFAULT, and drops it after the commit: left in place under
    // its `_drained` name, it would stop the family's next swap at its last RENAME, after a
    // whole copy. A DEFAULT pgparts does not own keeps its rows deleted instead.
    if (t.defaultPartition && !t.defaultOwned) {
      obstacles.push(
        `${t.defaultPartition} (DEFAULT of ${t.table}) is not recorded as pgparts's own, and a swap replaces DEFAULT with a table of its own and drops the old one`,
      );
    }
    // The successor is attached in DEFAULT's place and gets the parent's triggers only.
    if (t.defaultPartition && t.defaultOwnTriggers.length > 0) {
      const list = t.defaultOwnTriggers.map(quoteIdent).join(', ');
      obstacles.push(
        `${t.defaultPartition} has ${t.defaultOwnTriggers.length === 1 ? 'a trigger' : 'triggers'} of its own (${list}, not made on ${t.table}), which the table a swap puts in its place would not have`,
      );
    }
    if (t.defaultPartition && t.drainedState === 'foreign') {
      obstacles.push(
        `a table named ${drainedDefaultName(t.defaultPartition)} exists that pgparts does not own (the name a swap gives the old DEFAULT)`,
      );
    }
    // Another key's successor whose drain is still recorded: that drain resumes with it.
    const owner = state.otherDrains.find((op) => op.key === t.nextKey);
    if (t.nextState === 'other-key' && owner) {
      obstacles.push(`${t.next} belongs to the unfinished drain of key ${owner.key}`);
    }
    // The swap's working names append to DEFAULT's; PostgreSQL would cut a long one to 63 bytes.
    const derived = t.defaultPartition ? drainedDefaultName(t.defaultPartition) : null;
    if (derived && identifierProblem(derived)) {
      obstacles.push(
        `the name of ${t.defaultPartition} is too long to derive ${JSON.stringify(derived)} from it`,
      );
    }
  }
  return obstacles;
}

/**
 * The successor of one DEFAULT: LIKE the parent (columns, defaults; its indexes are built after
 * the copy, so ATTACH builds nothing), with CHECKs that prove it holds neither the key nor any other partition's rows.
 */
export function nextDefaultSql(
  family: FamilySpec,
  key: PartitionKey,
  t: DrainTableState,
): string[] {
  const next = quoteQualified(family.schema, t.next as string);
  // The server's own text for DEFAULT's constraint: ATTACH ... DEFAULT finds it implied. (None
  // when DEFAULT is the only partition: then there is nothing to prove.)
  const bound = t.defaultConstraint ?? 'true';
  return [
    ...tablespaceSql(t.parentTablespace),
    `CREATE TABLE ${next} ${likeParentSql(quoteQualified(family.schema, t.table), t.indexes !== null)}`,
    // It becomes DEFAULT: with the old one's owner and grants (a role reading DEFAULT keeps
    // reading it, and the owner's migrations can still alter it).
    ...ownerSql(next, t.defaultOwner),
    ...statisticsTargetsSql(next, t.parentStatisticsTargets),
    ...t.defaultGrants.map(
      (g) =>
        `GRANT ${g.privileges.join(', ')} ON ${next} TO ${g.grantee === null ? 'PUBLIC' : quoteIdent(g.grantee)}${g.grantable ? ' WITH GRANT OPTION' : ''}`,
    ),
    `ALTER TABLE ${next} ADD CONSTRAINT ${quoteIdent(DEFAULT_BOUND_CHECK)} CHECK (${bound})`,
    // And ATTACH of the key's partition finds the new DEFAULT cannot hold the key.
    `ALTER TABLE ${next} ADD CONSTRAINT ${quoteIdent(NOT_KEY_CHECK)} CHECK (NOT (${keyCheckSql(family, key)}))`,
    `COMMENT ON TABLE ${next} IS ${textLiteral(NEXT_DEFAULT_MARKER)}`,
    recordOwnedSql({
      schema: family.schema,
      family: family.name,
      parent: t.table,
      name: t.next as string,
      key: keyLabel(key),
      role: 'next-default',
    }),
  ];
}

/**
 * The catalog part of the final transaction, run under its locks after the last replay:
 * family foreign keys dropped, old DEFAULT partitions detached (referencing first), stripped of
 * their keys and renamed `<default>_drained`, successors attached as DEFAULT and the staging
 * tables for the key (referenced first), the foreign keys added back NOT VALID.
 */
export function swapSql(
  family: FamilySpec,
  tables: DrainTableState[],
  attachKey: (t: DrainTableState) => string[],
): string[] {
  const parent = (t: DrainTableState) => quoteQualified(family.schema, t.table);
  const out: string[] = [];
  for (const t of tables) {
    for (const fk of t.familyForeignKeys) {
      out.push(`ALTER TABLE ${parent(t)} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
    }
  }
  for (const t of [...tables].reverse()) {
    if (!t.defaultPartition) continue;
    const old = quoteQualified(family.schema, t.defaultPartition);
    out.push(`ALTER TABLE ${parent(t)} DETACH PARTITION ${old}`);
    // Its keys to other tables go now, under this transaction's locks: dropping them locks the
    // referenced tables ACCESS EXCLUSIVE, which a later DROP TABLE of it would do out of order
    // (it deadlocked with writers checking their runs' season and dungeon). Then it is renamed
    // and marked, and dropped after the commit: dropping a big table at commit costs its buffers'
    // invalidation, which the locks need not wait for. Detached, it keeps the keys it had as a
    // partition to tables outside the family (read before the drain: defaultForeignKeys).
    for (const name of t.defaultForeignKeys)
      out.push(`ALTER TABLE ${old} DROP CONSTRAINT ${quoteIdent(name)}`);
    out.push(
      `ALTER TABLE ${old} RENAME TO ${quoteIdent(drainedDefaultName(t.defaultPartition))}`,
      `COMMENT ON TABLE ${quoteQualified(family.schema, drainedDefaultName(t.defaultPartition))} IS ${textLiteral(DRAINED_DEFAULT_MARKER)}`,
      setOwnedRoleSql(
        family.schema,
        family.schema,
        drainedDefaultName(t.defaultPartition),
        'drained-default',
      ),
    );
  }
  for (const t of tables) {
    if (t.defaultPartition) {
      const next = quoteQualified(family.schema, t.next as string);
      out.push(
        `ALTER TABLE ${parent(t)} ATTACH PARTITION ${next} DEFAULT`,
        ...attachKey(t),
        // Their work is done; left in place they would outlive the bounds they describe.
        `ALTER TABLE ${next} DROP CONSTRAINT ${quoteIdent(DEFAULT_BOUND_CHECK)}, DROP CONSTRAINT ${quoteIdent(NOT_KEY_CHECK)}`,
        `ALTER TABLE ${next} RENAME TO ${quoteIdent(t.defaultPartition)}`,
        setOwnedRoleSql(family.schema, family.schema, t.defaultPartition, 'partition'),
      );
    } else {
      out.push(...attachKey(t));
    }
  }
  for (const t of tables) {
    for (const fk of t.familyForeignKeys) {
      out.push(
        `ALTER TABLE ${parent(t)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition} NOT VALID`,
      );
    }
  }
  return out;
}

export interface SwapCompletion {
  /** Old DEFAULT partitions dropped after the commit. */
  dropped: string[];
  /** Time spent validating the family's foreign keys, online, after the commit. */
  validateMs: number;
  /** The foreign keys validated, as table.constraint. */
  validated: string[];
}

/**
 * After a swap's commit (or on the next run, if it was interrupted): drops the old DEFAULT
 * partitions (plain DROP TABLE; one that something still depends on stays, and the error says
 * what), then validates the family's NOT VALID foreign keys, online. `units` are the
 * statements completeSwapUnits built for `state`.
 */
export async function completeSwap(
  db: AnyPgDatabase,
  family: FamilySpec,
  state: Pick<DrainState, 'unvalidatedForeignKeys' | 'drainedDefaults'>,
  units: { statements: string[]; transaction: boolean }[],
  options: { lockTimeoutMs?: number; retries?: number },
): Promise<SwapCompletion> {
  const dropped: string[] = [];
  const drops = units.slice(0, state.drainedDefaults.length);
  for (const [i, name] of state.drainedDefaults.entries()) {
    // Only an old DEFAULT pgparts recorded as such; a table that merely carries the comment stays.
    if ((await ownedRole(db, family.schema, family.schema, name)) !== 'drained-default') continue;
    await runLockedTransaction(
      db,
      { ...options, what: 'drain (dropping the old DEFAULT)' },
      drops[i]?.statements ?? [],
    );
    dropped.push(name);
  }
  const started = performance.now();
  for (const unit of units.slice(state.drainedDefaults.length)) {
    if (unit.transaction) {
      await runLockedTransaction(
        db,
        { ...options, what: 'drain (validating a foreign key)' },
        unit.statements,
      );
    } else {
      for (const statement of unit.statements) await run(db, statement);
    }
  }
  return {
    dropped,
    validateMs: performance.now() - started,
    validated: state.unvalidatedForeignKeys.map((fk) => `${fk.table}.${fk.name}`),
  };
}
