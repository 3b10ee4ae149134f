import { z } from 'zod';
import { readOperations } from '../../catalog/operations.js';
import { familyArgument, keyWord } from '../../define/command-words.js';
import { checkKeyShape, keyLabel, type PartitionKey } from '../../define/partition-key.js';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import { checkDatabase } from '../../run/check-database.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { withKeyOperation } from '../../run/key-lock.js';
import { lockOptionsSchema, runLockedTransaction } from '../../run/lock-timeout.js';
import { checkOptions } from '../../run/options.js';
import { asOperation } from '../../run/pg-error.js';
import { preflightPrivileges } from '../../run/privileges.js';
import { openSession, pgpartsSessionSettings } from '../../run/session.js';
import { quoteQualified } from '../../sql/identifiers.js';
import { forgetOwnedSql } from '../../sql/ownership.js';
import {
  CAPTURE_TRIGGER,
  clearLogSql,
  clearRemovedSql,
  dropCaptureTriggerSql,
  dropRemoveCopiesSql,
  keyLog,
} from '../online-copy/capture.js';
import { drainKeyKindProblem, readLock } from './drain.js';
import { type DrainState, readDrainState } from './state.js';
import { copiesOf } from './statements.js';

/**
 * Giving up an interrupted drain (`pgparts drain --abandon`): for a drain that fails the same
 * way on every run (status says so), which would otherwise hold the key's record, keep the
 * family's other drains waiting and its capture triggers logging every write for good.
 *
 * Until a drain's final transaction commits, every row of the key is in DEFAULT: the staging
 * tables and a swap's successor DEFAULT hold copies only. So giving it up drops those tables (by
 * name, each a table pgparts recorded as the drain's, never with CASCADE), the capture triggers
 * on DEFAULT and their change log entries (unless another drain of the family is recorded: they
 * share them), and the key's record, in one short transaction. Not a row of the family changes.
 * Once the final transaction has committed (the key's partitions attached) there is nothing to
 * give up: a drain of the key finishes what is left, and this is refused.
 */

const abandonOptionsSchema = z
  .object({
    dryRun: z.boolean().optional(),
    ...lockOptionsSchema.shape,
  })
  .strict();

export interface AbandonDrainOptions {
  /** Print what would be done; change nothing. */
  dryRun?: boolean;
  lockTimeoutMs?: number;
  retries?: number;
}

export interface AbandonDrainResult {
  family: string;
  key: string;
  /** abandoned (or would be, on a dry run); nothing-to-do: no drain of the key was left. */
  status: 'abandoned' | 'nothing-to-do';
  dryRun: boolean;
  /** The drain's tables dropped. */
  dropped: string[];
  /** The DEFAULT partitions whose capture trigger was dropped. */
  captureDropped: string[];
  /** DEFAULT partitions whose capture trigger stays: another drain of the family is recorded. */
  captureKept: string[];
  /** The statements run (or, on a dry run, that would run), the record's deletion included. */
  statements: string[];
}

interface AbandonPlan {
  dropped: string[];
  captureDropped: string[];
  captureKept: string[];
  statements: string[];
}

/** What giving up the drain of `key` takes, from the state read (refused once it committed). */
function planAbandon(
  family: FamilySpec,
  key: PartitionKey,
  state: DrainState,
  phase: string | null,
): AbandonPlan {
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const staging = state.tables.filter((t) => t.targetState === 'staging');
  const nexts = state.tables.filter((t) => t.next && t.nextState === 'staging');
  // Recorded, and nothing of it left unattached while the key's partitions are: it committed
  // (or its partitions were there before it). A drain of the key ends its record.
  const committed =
    phase !== null &&
    staging.length === 0 &&
    nexts.length === 0 &&
    state.tables.some((t) => t.targetState === 'attached');
  if (phase === 'validating' || committed) {
    throw new PgpartsError(
      'refused',
      `pgparts: drain --abandon: ${where}: the drain's final transaction committed (the key's ` +
        'partitions are attached, its rows in them): there is nothing to give up; nothing was ' +
        `changed. \`pgparts drain ${familyArgument(family)} ${keyWord(key)}\` finishes what is left`,
      { step: 'drain' },
    );
  }
  const schema = family.schema;
  const statements: string[] = [];
  const captureDropped: string[] = [];
  const captureKept: string[] = [];
  // The capture triggers and change log are shared by the family's drains.
  const shared = state.otherDrains.length > 0;
  for (const t of state.tables) {
    // A swap's trigger removing copies of DEFAULT's rows names the tables dropped below: it goes
    // first, whichever drain made it (a trigger naming a dropped table would fail the app's
    // deletes). A drain of another key that made it adds it again when it reaches its keys.
    if (t.defaultPartition && t.removeCopiesInstalled)
      statements.push(
        ...dropRemoveCopiesSql(schema, t.defaultPartition),
        clearRemovedSql(keyLog(schema), copiesOf(schema, t)),
      );
    if (!t.defaultPartition || !t.captureInstalled) continue;
    if (shared) {
      captureKept.push(t.defaultPartition);
      continue;
    }
    statements.push(
      ...dropCaptureTriggerSql(CAPTURE_TRIGGER, schema, t.defaultPartition),
      clearLogSql(keyLog(schema), t.defaultPartition),
    );
    captureDropped.push(t.defaultPartition);
  }
  const dropped: string[] = [];
  // Referencing tables first: a staging table may carry the family's foreign key to its parent.
  for (const t of [...state.tables].reverse()) {
    const names = [
      ...(nexts.includes(t) ? [t.next as string] : []),
      ...(staging.includes(t) ? [t.target] : []),
    ];
    for (const name of names) {
      statements.push(
        forgetOwnedSql(schema, schema, name),
        `DROP TABLE ${quoteQualified(schema, name)}`,
      );
      dropped.push(name);
    }
  }
  return { dropped, captureDropped, captureKept, statements };
}

/**
 * Gives up the interrupted drain of `key` (see above): drops what it made, keeps every row where
 * it is (DEFAULT). Holds the key as a drain does: refused ('busy') while a drain of it runs.
 */
export async function abandonDrain(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: AbandonDrainOptions = {},
): Promise<AbandonDrainResult> {
  return asOperation('drain', async () => {
    checkOptions('drain --abandon', abandonOptionsSchema, options);
    checkDatabase('drain --abandon', db);
    checkKeyShape('drain', key);
    const kind = drainKeyKindProblem(family, key);
    if (kind) {
      throw new PgpartsError(
        'invalid-input',
        `pgparts: drain --abandon: family ${family.name}: ${kind}`,
        { step: 'drain' },
      );
    }
    const label = keyLabel(key);
    const base = { family: family.name, key: label, dryRun: options.dryRun === true };
    const session = await openSession(db, { settings: pgpartsSessionSettings() });
    const s = session.db;
    try {
      if (options.dryRun) {
        const [recorded] = await readOperations(s, family, label);
        const state = await readDrainState(s, family, key, readLock(options));
        const plan = planAbandon(
          family,
          key,
          state,
          recorded?.operation === 'drain' ? recorded.phase : null,
        );
        const deleteRecord = recorded?.operation === 'drain';
        return result(base, plan, deleteRecord ? ["-- the key's drain record is deleted"] : []);
      }
      await preflightPrivileges(s, 'drain', [family]);
      return await withKeyOperation(s, family, label, 'drain', async (op) => {
        const state = await readDrainState(s, family, key, readLock(options));
        const plan = planAbandon(family, key, state, op.resuming?.phase ?? null);
        const record = op.writesWith({ end: true });
        if (plan.statements.length === 0 && record.statements.length === 0)
          return result(base, plan, []);
        await runLockedTransaction(s, { ...options, what: 'drain --abandon' }, [
          ...plan.statements,
          ...record.statements,
        ]);
        record.committed();
        return result(base, plan, record.statements);
      });
    } finally {
      await session.release();
    }
  });
}

function result(
  base: { family: string; key: string; dryRun: boolean },
  plan: AbandonPlan,
  record: string[],
): AbandonDrainResult {
  const statements = [...plan.statements, ...record];
  return {
    ...base,
    status: statements.length > 0 ? 'abandoned' : 'nothing-to-do',
    dropped: plan.dropped,
    captureDropped: plan.captureDropped,
    captureKept: plan.captureKept,
    statements,
  };
}
