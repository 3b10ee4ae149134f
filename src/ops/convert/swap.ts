import { sql } from 'drizzle-orm';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { inLockedTransaction } from '../../run/lock-timeout.js';
import { quoteIdent } from '../../sql/identifiers.js';
import { replayUntilEmpty } from '../online-copy/replay.js';
import { addTwinForeignKeys, catchUpClosely } from './fill.js';
import { readLayouts } from './layout.js';
import { copyGrantsSql, dependentViews, viewsIn } from './legacy-catalog.js';
import {
  lockSql,
  moveTableSql,
  moveViewSql,
  ownSequenceSql,
  refreshSql,
  releaseSequenceSql,
  repointSql,
  validateSql,
} from './moves.js';
import { oldSchema, sides } from './names.js';
import {
  captureStillOnForSwitchSql,
  conversionRemovalSql,
  conversionTriggerSql,
  dropConversionTriggerSql,
  replayConversionBatch,
} from './online-copy.js';
import { conversionStep, recordPhase } from './operation.js';
import { executePlan, formatPlan, type PlannedStatement } from './planned.js';
import {
  afterSwitchPlan,
  finishAfterSwitch,
  finishSwitch,
  pendingAfterSwitch,
} from './post-switch.js';
import {
  buildTwinViews,
  checkForeignKeys,
  checkTriggers,
  swapInputs,
  viewRefusal,
} from './preflight.js';
import type { ConvertStepResult } from './prep.js';
import { query, runInTransaction } from './run-sql.js';
import { AFTER_SWITCH, lockFamily, readState, recordSwap, setProgress } from './state.js';
import {
  type ConversionTarget,
  parseOptions,
  type SwapOptions,
  swapOptionsSchema,
  swapRetries,
} from './target.js';
import { twinForeignKeySql } from './twin-ddl.js';

export interface SwitchResult extends ConvertStepResult {
  /** How long the tables were locked: from the lock being granted to the commit, in ms. */
  lockHoldMs: number;
  attempts: number;
  /** changes replayed under the lock (the final delta) */
  replayedUnderLock: number;
  views: string[];
  refreshed: string[];
  /** The run only finished the work after the commit of an earlier, interrupted one. */
  resumed?: boolean;
}

/**
 * Step 4, swap: one short transaction under lock_timeout (retried): lock the legacy tables,
 * replay the last logged changes, move the sequence past max(id) and hand it to the new column,
 * park the legacy tables and their views in pgparts_<family>_old, move the twins and the views
 * re-created on them into place, re-point foreign keys from other tables, and start logging
 * changes the other way for unswap. The views were built and filled before the lock; after the
 * commit they are refreshed (CONCURRENTLY where a unique index allows) to include the last rows.
 */
export async function convertSwap(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: SwapOptions = {},
): Promise<SwitchResult> {
  const opts = parseOptions(swapOptionsSchema, 'swap', options);
  return conversionStep(db, target.family, opts.dryRun, (s, op) => swapOn(s, target, opts, op));
}

async function swapOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: ReturnType<typeof swapOptionsSchema.parse>,
  op: KeyOperation | null,
): Promise<SwitchResult> {
  const family = target.family;
  const state = await readState(db, family);
  const pending = pendingAfterSwitch(state);
  if (state?.step === 'swapped' && pending && !opts.dryRun) {
    // A swap interrupted after its commit (while validating or refreshing): finish it.
    const done = await finishSwitch(db, family, op, 'swap');
    return {
      family: family.name,
      step: 'swap',
      sql: '',
      dryRun: false,
      lockHoldMs: state.lockHoldMs ?? 0,
      attempts: 0,
      replayedUnderLock: 0,
      views: pending.refresh,
      refreshed: done.refreshed,
      resumed: true,
    };
  }
  if (state?.step !== 'filled') {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} swap: the step is ${state?.step ?? 'not started'}; ` +
        (state?.step === 'swapped' ? 'already swapped' : 'run fill first (it must finish)'),
      { step: 'convert swap' },
    );
  }
  if (pending && !opts.dryRun) await finishAfterSwitch(db, family); // an unswap's
  const before = sides(family, false);
  const old = oldSchema(family);
  const layouts = await readLayouts(db, target, before);
  const { views, fks, sequences } = await swapInputs(db, target, 'convert swap');
  await checkForeignKeys(db, target, fks, before.partitioned, 'convert swap');

  await checkTriggers(db, target);
  const prepare = await buildTwinViews(db, target, views);
  // The app's privileges on the tables and views, given to their successors before they take over.
  const objects = [...family.tables, ...views.map((v) => v.name)];
  for (const grant of await copyGrantsSql(db, family.schema, before.partitioned, objects)) {
    prepare.push({ sql: grant });
  }
  const twinViews = async () => (await viewsIn(db, before.partitioned)).reverse();
  const locked = (partitionedViews: { name: string; materialized: boolean }[]): string[] => [
    lockSql(family.schema, family.tables, views),
    ...family.tables.map((t) => captureStillOnForSwitchSql(family, t, 'forward')),
    ...sequences.flatMap((s) => releaseSequenceSql(s, family.schema)),
    ...family.tables.flatMap((t) => dropConversionTriggerSql(family, family.schema, t, 'forward')),
    // Made with the moves it receives: a swap that fails or gives up leaves no schema behind.
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(old)}`,
    ...views.map((v) => moveViewSql(family.schema, v, old)),
    ...family.tables.map((t) => moveTableSql(family.schema, t, old)),
    ...family.tables.map((t) => moveTableSql(before.partitioned, t, family.schema)),
    ...partitionedViews.map((v) => moveViewSql(before.partitioned, v, family.schema)),
    ...sequences.map((s) => ownSequenceSql(s, family.schema)),
    ...fks.flatMap(repointSql),
    ...family.tables.flatMap((t) => conversionTriggerSql(family, family.schema, t, 'reverse')),
    ...conversionRemovalSql(family, layouts, 'reverse', sides(family, true)),
  ];
  if (opts.dryRun) {
    const shown: PlannedStatement[] = [
      ...prepare,
      { sql: '-- replay the change log in batches; the foreign keys between the twins:' },
      ...layouts.flatMap((l) =>
        twinForeignKeySql(family, l.drizzle, before.partitioned).map((fk) => ({ sql: fk.sql })),
      ),
      { sql: '-- replay again, then under the lock:' },
      ...locked(views).map((s, i) =>
        i === 0 ? { sql: s, lockTimeoutMs: opts.lockTimeoutMs } : { sql: s },
      ),
      {
        sql: '-- after the commit (each recorded, so a rerun of swap finishes what a crash left):',
      },
      ...fks.map((fk) => ({ sql: validateSql(fk) })),
      ...views.filter((v) => v.materialized).map((v) => ({ sql: refreshSql(family.schema, v) })),
    ];
    return {
      family: family.name,
      step: 'swap',
      sql: formatPlan(shown),
      dryRun: true,
      lockHoldMs: 0,
      attempts: 0,
      replayedUnderLock: 0,
      views: views.map((v) => v.name),
      refreshed: [],
    };
  }

  await recordPhase(op, 'swap');
  try {
    await executePlan(db, prepare, `convert ${family.name} swap (building views on the twins)`);
  } catch (error) {
    throw viewRefusal(error, 'convert swap', 'Nothing was switched');
  }
  await catchUpClosely(db, target, layouts, 'forward', before, opts.batchSize);
  await addTwinForeignKeys(db, target, layouts, before, opts.batchSize);
  await catchUpClosely(db, target, layouts, 'forward', before, opts.batchSize);
  const partitionedViews = await twinViews();
  let lockHoldMs = 0;
  const { value: replayedUnderLock, attempts } = await inLockedTransaction(
    db,
    {
      lockTimeoutMs: opts.lockTimeoutMs,
      retries: swapRetries(opts),
      what: `convert ${family.name} swap`,
    },
    async (tx) => {
      await lockFamily(tx, family);
      await tx.execute(sql`SELECT set_config('search_path', ${quoteIdent(family.schema)}, true)`);
      const [lock, ...rest] = locked(partitionedViews);
      await tx.execute(sql.raw(lock ?? ''));
      const lockedAt = performance.now();
      const { taken: replayed } = await replayUntilEmpty((last) =>
        replayConversionBatch(tx, family, layouts, 'forward', before, opts.batchSize, {
          after: last,
        }),
      );
      const now = await dependentViews(tx, family.schema, family.tables);
      if (now.map((v) => v.name).join() !== views.map((v) => v.name).join()) {
        throw new PgpartsError(
          'conversion-state',
          `pgparts: convert ${family.name} swap: the views on the legacy tables changed while the ` +
            'swap prepared; run swap again',
          { step: 'convert swap' },
        );
      }
      await runInTransaction(tx, rest);
      await recordSwap(tx, family, true, null);
      await setProgress(tx, family, 'repointed', fks);
      // What follows the commit, recorded with it: a crash there is finished by the next swap.
      const materialized = partitionedViews.filter((v) => v.materialized).map((v) => v.name);
      await setProgress(
        tx,
        family,
        AFTER_SWITCH,
        afterSwitchPlan(family.schema, fks, materialized),
      );
      lockHoldMs = performance.now() - lockedAt; // commit follows at once
      return replayed;
    },
  );
  await query(
    db,
    sql`UPDATE pgparts_convert.conversion SET lock_hold_ms = ${lockHoldMs} WHERE family = ${family.name}`,
  );
  const done = await finishSwitch(db, family, op, 'swap');
  return {
    family: family.name,
    step: 'swap',
    sql: '',
    dryRun: false,
    lockHoldMs,
    attempts,
    replayedUnderLock,
    views: partitionedViews.map((v) => v.name),
    refreshed: done.refreshed,
  };
}
