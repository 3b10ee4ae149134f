import { RETIRED_KEYS_TABLE, retiredKeysSetupSql } from '../catalog/retired-keys.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { quoteIdent, quoteQualified, truncateIdentifier } from '../sql/identifiers.js';
import { dollarQuoted, textLiteral } from '../sql/literals.js';
import { forgetOwnedSql, moveOwnedSql } from '../sql/ownership.js';
import { boundSpecSql } from '../sql/partition-ddl.js';
import type { RetirePartitionState } from './retire-preflight.js';

/**
 * Every statement of a retire, built from what was read before it starts (retireFacts) and
 * nothing else: retireKey runs these and only these, and `--dry-run` / `plan` print them.
 */

/** A foreign key of a family table to another table of the family, by column. */
export interface FamilyForeignKey {
  name: string;
  columns: string[];
  referencedColumns: string[];
  referenced: string;
  /**
   * What is written after its referenced columns: its MATCH, what it does on a delete and an
   * update of the referenced row, whether it is deferrable (` MATCH FULL ON DELETE CASCADE
   * DEFERRABLE`); empty for a key that is all defaults.
   */
  actions?: string;
}

/** What a retire needs to know of the database, read before its first change. */
export interface RetireFacts {
  /** The key's partitions, referencing tables first (retirePreflight). */
  present: RetirePartitionState[];
  /** DETACH ... CONCURRENTLY (no DEFAULT partition, PostgreSQL 14+), else plain. */
  concurrently: boolean;
  /** Why not CONCURRENTLY, when plain. */
  detachNote: string | null;
  /** Per partition: its foreign keys into the family (they outlive a detach and stand alone). */
  partitionForeignKeys: Record<string, string[]>;
  /** Per parent table: its foreign keys into the family (the archived link is made of them). */
  parentForeignKeys: Record<string, FamilyForeignKey[]>;
  /** Foreign keys between the family's parents (which references which), for the lock order. */
  familyLinks?: { referencing: string; referenced: string }[];
  /** archive: the key's tables already in the archive schema (an interrupted retire moved them). */
  archived: string[];
  /** pgparts_retired_keys exists already: its CREATE TABLE IF NOT EXISTS is left out. */
  retiredKeysTable?: boolean;
}

/**
 * How a unit runs: `retry` one statement retried on lock timeouts, outside any transaction
 * (DETACH ... CONCURRENTLY cannot run in one); `together` in one short transaction; `plain`
 * one by one.
 */
export interface RetireUnit {
  /** The operation record's phase while it runs (none: the previous one). */
  phase?: string;
  how: 'retry' | 'together' | 'plain';
  statements: string[];
  /** Partitions retired once this unit ran (progress). */
  done?: number;
  /**
   * May go out before the unit ahead of it has answered (a DROP behind its DETACH): its first
   * statement refuses to run unless that unit took effect (stillAttachedGuardSql), so it changes
   * nothing when that unit failed or is tried again, and is sent again once it succeeded.
   */
  sendsBehind?: boolean;
}

/** What stillAttachedGuardSql's refusal says, to tell it from any other failure. */
export const STILL_ATTACHED = 'pgparts: still attached, not dropped';

/**
 * Refuses (object_not_in_prerequisite_state) while `partition` is a partition still: a DROP sent
 * right behind its DETACH runs only once the DETACH has committed. A DO block, since a statement
 * cannot raise an error of its own; its literals through textLiteral.
 */
export function stillAttachedGuardSql(partition: string): string {
  return `DO ${dollarQuoted(` BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = to_regclass(${textLiteral(partition)})) THEN RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state', MESSAGE = ${textLiteral(`${STILL_ATTACHED}: ${partition}`)}; END IF; END `)}`;
}

export interface RetireStatementOptions {
  mode: 'drop' | 'archive';
  archiveSchema: string;
}

/**
 * The locks a statement that touches both ends of the family's foreign keys takes first, in the
 * order app writers take them: the referenced parents in SHARE ROW EXCLUSIVE (their writers
 * finish and new ones wait holding nothing; foreign key checks into them go on), then the
 * referencing parents in ACCESS EXCLUSIVE.
 */
function writersOrderLocks(family: FamilySpec, facts: RetireFacts): string[] {
  const links = facts.familyLinks ?? [];
  const referenced = [...new Set(links.map((l) => l.referenced))];
  const referencing = [...new Set(links.map((l) => l.referencing))];
  return [
    ...referenced.map(
      (t) => `LOCK TABLE ONLY ${quoteQualified(family.schema, t)} IN SHARE ROW EXCLUSIVE MODE`,
    ),
    ...referencing.map(
      (t) => `LOCK TABLE ONLY ${quoteQualified(family.schema, t)} IN ACCESS EXCLUSIVE MODE`,
    ),
  ];
}

export function retireStatements(
  family: FamilySpec,
  key: PartitionKey,
  facts: RetireFacts,
  options: RetireStatementOptions,
): RetireUnit[] {
  const { mode, archiveSchema } = options;
  const units: RetireUnit[] = [];
  if (mode === 'archive')
    units.push({
      how: 'plain',
      statements: [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(archiveSchema)}`],
    });
  const archivedHere = new Set<string>(facts.archived);
  const links: { table: string; fks: FamilyForeignKey[] }[] = [];
  for (const [i, state] of facts.present.entries()) {
    const parent = quoteQualified(family.schema, state.table);
    const partition = quoteQualified(family.schema, state.name);
    if (state.detachPending) {
      units.push({
        phase: `detach ${state.name}`,
        how: 'retry',
        statements: [`ALTER TABLE ${parent} DETACH PARTITION ${partition} FINALIZE`],
      });
    } else if (state.attached && !facts.concurrently && (facts.familyLinks ?? []).length > 0) {
      // A plain DETACH in a family whose tables reference each other takes ACCESS EXCLUSIVE on
      // its parent and locks the other end of each foreign key, in an order that waits in a
      // cycle with app writers (one inserting a run and then its members holds the first lock
      // the detach wants next; one inserting members only queues behind it holding the other).
      // So, in one short transaction: the referenced parents in SHARE ROW EXCLUSIVE first
      // (writers of those tables finish and new ones wait holding nothing; foreign key checks
      // into them go on), then the referencing parents in ACCESS EXCLUSIVE, then the DETACH.
      units.push({
        phase: `detach ${state.name}`,
        how: 'together',
        statements: [
          ...writersOrderLocks(family, facts),
          `ALTER TABLE ${parent} DETACH PARTITION ${partition}`,
        ],
      });
    } else if (state.attached && facts.concurrently) {
      // CONCURRENTLY runs outside any transaction; the session's lock_timeout bounds its waits.
      units.push({
        phase: `detach ${state.name}`,
        how: 'retry',
        statements: [`ALTER TABLE ${parent} DETACH PARTITION ${partition} CONCURRENTLY`],
      });
    } else if (state.attached) {
      // A plain DETACH (a DEFAULT partition forbids CONCURRENTLY) in a transaction of its own
      // with its phase record: its commit need not wait for the WAL flush (the DROP's that
      // follows does, PostgreSQL forces it, and makes this one durable with it), so the parent's
      // ACCESS EXCLUSIVE ends sooner, and the record's write takes no round trip of its own.
      units.push({
        phase: `detach ${state.name}`,
        how: 'together',
        statements: [`ALTER TABLE ${parent} DETACH PARTITION ${partition}`],
      });
    } else {
      units.push({ phase: `detach ${state.name}`, how: 'plain', statements: [] });
    }
    if (mode === 'drop') {
      // Dropping the detached table drops its own foreign keys with it; nothing else. Those keys
      // have triggers on the other end, which the DROP removes under that table's lock: with
      // writers on both ends it waits in the same cycle as a plain DETACH (a test saw every
      // attempt time out), so where the family's tables reference each other it first takes
      // the same locks in the writers' order.
      const ordered = facts.familyLinks?.length ? writersOrderLocks(family, facts) : [];
      // Behind a plain DETACH in a transaction of its own, the DROP goes out without waiting
      // for its answer: a round trip less; its guard keeps it from running before the DETACH.
      const behindDetach =
        units.at(-1)?.how === 'together' && state.attached && !facts.concurrently;
      units.push({
        phase: `drop ${state.name}`,
        how: 'together',
        statements: [
          ...(behindDetach ? [stillAttachedGuardSql(partition)] : []),
          ...ordered,
          forgetOwnedSql(family.schema, family.schema, state.name),
          `DROP TABLE ${partition}`,
        ],
        done: i + 1,
        ...(behindDetach ? { sendsBehind: true } : {}),
      });
      continue;
    }
    // Its foreign keys into the family, where they outlived the detach, now stand alone and
    // would block the referenced detach (PostgreSQL 14 drops them on detach: IF EXISTS). The
    // archived link is made from the parent's keys.
    const own = facts.partitionForeignKeys[state.name] ?? [];
    units.push(
      ...own.map(
        (name, j): RetireUnit => ({
          ...(j === 0 ? { phase: `archive ${state.name}` } : {}),
          how: 'retry',
          statements: [`ALTER TABLE ${partition} DROP CONSTRAINT IF EXISTS ${quoteIdent(name)}`],
        }),
      ),
      {
        ...(own.length === 0 ? { phase: `archive ${state.name}` } : {}),
        how: 'together',
        statements: [
          `ALTER TABLE ${partition} SET SCHEMA ${quoteIdent(archiveSchema)}`,
          moveOwnedSql(family.schema, archiveSchema, state.name),
        ],
      },
      {
        how: 'plain',
        statements: [
          `COMMENT ON TABLE ${quoteQualified(archiveSchema, state.name)} IS ${textLiteral(
            `pgparts:archived from ${family.schema}.${state.table} ${boundSpecSql(key)}`,
          )}`,
        ],
        done: i + 1,
      },
    );
    archivedHere.add(state.name);
    links.push({ table: state.name, fks: facts.parentForeignKeys[state.table] ?? [] });
  }
  // Archived tables keep their integrity: the referencing one points at the archived referenced
  // one, with the family key's actions (deleting an archived order takes its archived items, as
  // it did before the archive).
  for (const link of links) {
    for (const fk of link.fks) {
      const referenced = partitionName(family, fk.referenced, key);
      if (!archivedHere.has(referenced)) continue;
      units.push({
        how: 'plain',
        statements: [
          `ALTER TABLE ${quoteQualified(archiveSchema, link.table)} ADD CONSTRAINT ${quoteIdent(truncateIdentifier(`${fk.name}_archived`))}
  FOREIGN KEY (${fk.columns.map(quoteIdent).join(', ')}) REFERENCES ${quoteQualified(archiveSchema, referenced)} (${fk.referencedColumns.map(quoteIdent).join(', ')})${fk.actions ?? ''}`,
        ],
      });
    }
  }
  // The key is recorded retired in the transaction of its last drop (it is retired exactly when
  // that commits), or in one of its own.
  const record = [
    ...(facts.retiredKeysTable ? [] : retiredKeysSetupSql(family.schema)),
    `INSERT INTO ${quoteQualified(family.schema, RETIRED_KEYS_TABLE)} (family, key, mode, archive_schema)
VALUES (${textLiteral(family.name)}, ${textLiteral(keyLabel(key))}, ${textLiteral(mode)}, ${mode === 'archive' ? textLiteral(archiveSchema) : 'NULL'})
ON CONFLICT (family, key) DO UPDATE SET mode = EXCLUDED.mode, archive_schema = EXCLUDED.archive_schema, retired_at = now()`,
  ];
  const last = units.at(-1);
  if (mode === 'drop' && last?.how === 'together') last.statements.push(...record);
  else units.push({ phase: 'record', how: 'together', statements: record });
  return units;
}
