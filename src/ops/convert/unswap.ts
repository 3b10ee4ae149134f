import { sql } from 'drizzle-orm';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { inLockedTransaction } from '../../run/lock-timeout.js';
import { quoteIdent } from '../../sql/identifiers.js';
import { replayUntilEmpty } from '../online-copy/replay.js';
import { catchUpClosely } from './fill.js';
import { readLayouts } from './layout.js';
import { dependentViews, type ExternalForeignKey, viewsIn } from './legacy-catalog.js';
import {
  lockSql,
  moveTableSql,
  moveViewSql,
  ownedSequences,
  ownSequenceSql,
  releaseSequenceSql,
  repointSql,
} from './moves.js';
import { oldSchema, sides, twinSchema } from './names.js';
import {
  captureStillOnForSwitchSql,
  conversionRemovalSql,
  conversionTriggerSql,
  dropConversionTriggerSql,
  replayConversionBatch,
} from './online-copy.js';
import { conversionStep, recordPhase } from './operation.js';
import { formatPlan } from './planned.js';
import {
  afterSwitchPlan,
  finishAfterSwitch,
  finishSwitch,
  pendingAfterSwitch,
} from './post-switch.js';
import { runInTransaction } from './run-sql.js';
import { AFTER_SWITCH, lockFamily, readState, recordSwap, setProgress } from './state.js';
import type { SwitchResult } from './swap.js';
import {
  type ConversionTarget,
  parseOptions,
  type SwapOptions,
  swapOptionsSchema,
  swapRetries,
} from './target.js';

/**
 * Step 6, unswap (rollback): the swap in reverse, under the same kind of short lock. The changes
 * written to the partitioned tables since the swap (logged by the reverse triggers) are replayed
 * into the legacy tables first, so no row is lost; the legacy tables and their views go back into
 * place and the partitioned ones back to pgparts_<family>_new, where the forward log keeps them in
 * step again: a later swap needs no new fill. The legacy materialized views are refreshed after.
 */
export async function convertUnswap(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: SwapOptions = {},
): Promise<SwitchResult> {
  const opts = parseOptions(swapOptionsSchema, 'unswap', options);
  return conversionStep(db, target.family, opts.dryRun, (s, op) => unswapOn(s, target, opts, op));
}

async function unswapOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: ReturnType<typeof swapOptionsSchema.parse>,
  op: KeyOperation | null,
): Promise<SwitchResult> {
  const family = target.family;
  const state = await readState(db, family);
  if (state?.step !== 'swapped') {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} unswap: the step is ${state?.step ?? 'not started'}; only a swapped family can be unswapped`,
      { step: 'convert unswap' },
    );
  }
  const after = sides(family, true);
  const twin = twinSchema(family);
  const old = oldSchema(family);
  const layouts = await readLayouts(db, target, after);
  const fks = (state.progress.repointed ?? []) as ExternalForeignKey[];
  const sequences = await ownedSequences(db, family.schema, family.tables);
  const legacyViews = await viewsIn(db, old);
  const locked = (currentViews: { name: string; materialized: boolean }[]): string[] => [
    lockSql(family.schema, family.tables, currentViews),
    ...family.tables.map((t) => captureStillOnForSwitchSql(family, t, 'reverse')),
    // The legacy table now holds every id (the reverse replay ran first).
    ...sequences.flatMap((s) => releaseSequenceSql(s, old)),
    ...family.tables.flatMap((t) => dropConversionTriggerSql(family, family.schema, t, 'reverse')),
    ...currentViews.map((v) => moveViewSql(family.schema, v, twin)),
    ...family.tables.map((t) => moveTableSql(family.schema, t, twin)),
    ...family.tables.map((t) => moveTableSql(old, t, family.schema)),
    ...legacyViews.map((v) => moveViewSql(old, v, family.schema)),
    ...sequences.map((s) => ownSequenceSql(s, family.schema)),
    ...fks.flatMap(repointSql),
    ...family.tables.flatMap((t) => conversionTriggerSql(family, family.schema, t, 'forward')),
    ...conversionRemovalSql(family, layouts, 'forward', sides(family, false)),
  ];
  const currentViews = await dependentViews(db, family.schema, family.tables);
  if (opts.dryRun) {
    return {
      family: family.name,
      step: 'unswap',
      sql: formatPlan([
        { sql: '-- replay the reverse change log in batches, then under the lock:' },
        ...locked(currentViews).map((s, i) =>
          i === 0 ? { sql: s, lockTimeoutMs: opts.lockTimeoutMs } : { sql: s },
        ),
      ]),
      dryRun: true,
      lockHoldMs: 0,
      attempts: 0,
      replayedUnderLock: 0,
      views: legacyViews.map((v) => v.name),
      refreshed: [],
    };
  }
  await recordPhase(op, 'unswap');
  // A swap's unfinished work first: its foreign keys are re-pointed back by the switch below.
  if (pendingAfterSwitch(state)) await finishAfterSwitch(db, family);
  await catchUpClosely(db, target, layouts, 'reverse', after, opts.batchSize);
  let lockHoldMs = 0;
  const { value: replayedUnderLock, attempts } = await inLockedTransaction(
    db,
    {
      lockTimeoutMs: opts.lockTimeoutMs,
      retries: swapRetries(opts),
      what: `convert ${family.name} unswap`,
    },
    async (tx) => {
      await lockFamily(tx, family);
      await tx.execute(sql`SELECT set_config('search_path', ${quoteIdent(family.schema)}, true)`);
      const [lock, ...rest] = locked(await dependentViews(tx, family.schema, family.tables));
      await tx.execute(sql.raw(lock ?? ''));
      const lockedAt = performance.now();
      const { taken: replayed } = await replayUntilEmpty((last) =>
        replayConversionBatch(tx, family, layouts, 'reverse', after, opts.batchSize, {
          after: last,
        }),
      );
      await runInTransaction(tx, rest);
      await recordSwap(tx, family, false, null);
      const materialized = legacyViews.filter((v) => v.materialized).map((v) => v.name);
      await setProgress(
        tx,
        family,
        AFTER_SWITCH,
        afterSwitchPlan(family.schema, fks, materialized),
      );
      lockHoldMs = performance.now() - lockedAt;
      return replayed;
    },
  );
  const { refreshed } = await finishSwitch(db, family, op, 'unswap');
  return {
    family: family.name,
    step: 'unswap',
    sql: '',
    dryRun: false,
    lockHoldMs,
    attempts,
    replayedUnderLock,
    views: legacyViews.map((v) => v.name),
    refreshed,
  };
}
