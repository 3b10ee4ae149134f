import { sql } from 'drizzle-orm';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { inLockedTransaction } from '../../run/lock-timeout.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { captureTriggerSql, dropCaptureTriggerSql, replayBatch } from './capture.js';
import { catchUpClosely } from './fill.js';
import { readLayouts } from './layout.js';
import {
  appTriggers,
  copyGrantsSql,
  type DependentView,
  dependentViews,
  type ExternalForeignKey,
  externalForeignKeys,
  hasUniqueKeyOn,
  viewsIn,
} from './legacy-catalog.js';
import {
  dropViewSql,
  lockSql,
  moveTableSql,
  moveViewSql,
  ownedSequences,
  ownSequenceSql,
  recreateViewSql,
  refreshSql,
  releaseSequenceSql,
  repointSql,
  validateSql,
} from './moves.js';
import { oldSchema, sides, twinSchema } from './names.js';
import { executePlan, formatPlan, type PlannedStatement } from './planned.js';
import type { ConvertStepResult } from './prep.js';
import { query, runAll } from './run-sql.js';
import { lockFamily, readState, recordSwap, setProgress } from './state.js';
import {
  type ConversionTarget,
  createdObject,
  parseOptions,
  type SwapOptions,
  swapOptionsSchema,
  swapRetries,
} from './target.js';

export interface SwitchResult extends ConvertStepResult {
  /** How long the tables were locked: from the lock being granted to the commit, in ms. */
  lockHoldMs: number;
  attempts: number;
  /** changes replayed under the lock (the final delta) */
  replayedUnderLock: number;
  views: string[];
  refreshed: string[];
}

/** Views into the twin schema: the legacy ones re-created against the twins, then the extras. */
async function buildTwinViews(
  db: AnyPgDatabase,
  target: ConversionTarget,
  views: readonly DependentView[],
): Promise<PlannedStatement[]> {
  const family = target.family;
  const twin = twinSchema(family);
  const path = `${quoteIdent(twin)}, ${quoteIdent(family.schema)}`;
  // Left over from an earlier attempt: ours, rebuilt from the current definitions.
  const plan: PlannedStatement[] = (await viewsIn(db, twin)).map((v) => ({
    sql: dropViewSql(twin, v),
  }));
  const names = new Set<string>();
  for (const view of views) {
    names.add(view.name);
    for (const statement of recreateViewSql(view, twin))
      plan.push({ sql: statement, searchPath: path });
  }
  for (const extra of target.extras) {
    const object = createdObject(extra);
    if (object.kind === 'index' && object.on && family.tables.includes(object.on)) continue; // prep's
    if (names.has(object.name)) continue;
    if (object.kind === 'index' && object.on && names.has(object.on)) {
      // An index of a view the legacy database already had: keep the legacy view's own indexes.
      continue;
    }
    names.add(object.name);
    plan.push({ sql: extra, searchPath: path });
  }
  return plan;
}

/** An app trigger on a legacy table would silently stop firing after the swap: refuse. */
async function checkTriggers(db: AnyPgDatabase, target: ConversionTarget): Promise<void> {
  const family = target.family;
  const twin = twinSchema(family);
  const missing: string[] = [];
  const onTwins = new Set(
    (await appTriggers(db, twin, family.tables)).map((t) => `${t.table}.${t.name}`),
  );
  for (const t of await appTriggers(db, family.schema, family.tables)) {
    if (!onTwins.has(`${t.table}.${t.name}`)) missing.push(`${t.name} on ${t.table}`);
  }
  if (missing.length > 0) {
    throw new PgpartsError(
      'refused',
      `pgparts: convert ${family.name} swap: the legacy tables have triggers the partitioned ones ` +
        `lack: ${missing.join(', ')}. Create them (same name) on the tables in ${twin}, or drop ` +
        'them, then run swap again; nothing was switched',
      { step: 'convert swap' },
    );
  }
}

async function checkForeignKeys(
  db: AnyPgDatabase,
  target: ConversionTarget,
  fks: readonly ExternalForeignKey[],
): Promise<void> {
  for (const fk of fks) {
    if (
      !(await hasUniqueKeyOn(db, twinSchema(target.family), fk.referenced, fk.referencedColumns))
    ) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${fk.table} references ${fk.referenced} (${fk.referencedColumns.join(', ')}) through ` +
          `${fk.name}, but the partitioned ${fk.referenced} has no unique key on those columns ` +
          '(a foreign key needs a unique key, and on a partitioned table every unique key contains the partition key). ' +
          `Add ${target.family.partitionBy.column} to ${fk.table} and reference a key that ` +
          'contains it, then swap',
        {
          step: 'convert swap',
          table: fk.table,
          docs: 'docs/postgres-behaviours.md#foreign-keys-reference-the-partition-key',
        },
      );
    }
  }
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
  const family = target.family;
  const state = await readState(db, family);
  if (state?.step !== 'filled') {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} swap: the step is ${state?.step ?? 'not started'}; ` +
        (state?.step === 'swapped' ? 'already swapped' : 'run fill first (it must finish)'),
      { step: 'convert swap' },
    );
  }
  const before = sides(family, false);
  const old = oldSchema(family);
  const layouts = await readLayouts(db, target, before);
  const views = await dependentViews(db, family.schema, family.tables);
  const elsewhere = views.filter((v) => v.schema !== family.schema);
  if (elsewhere.length > 0) {
    throw new PgpartsError(
      'refused',
      `pgparts: views outside schema ${family.schema} read the tables of ${family.name}: ` +
        `${elsewhere.map((v) => `${v.schema}.${v.name}`).join(', ')}; drop them and re-create them after the swap`,
      { step: 'convert swap', docs: 'docs/postgres-behaviours.md#views-bind-to-tables' },
    );
  }
  const fks = await externalForeignKeys(db, family.schema, family.tables);
  await checkForeignKeys(db, target, fks);
  const sequences = await ownedSequences(db, family.schema, family.tables);

  await checkTriggers(db, target);
  const prepare = await buildTwinViews(db, target, views);
  prepare.unshift({ sql: `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(old)}` });
  // The app's privileges on the tables and views, given to their successors before they take over.
  const objects = [...family.tables, ...views.map((v) => v.name)];
  for (const grant of await copyGrantsSql(db, family.schema, before.partitioned, objects)) {
    prepare.push({ sql: grant });
  }
  const twinViews = async () => (await viewsIn(db, before.partitioned)).reverse();
  const locked = (partitionedViews: { name: string; materialized: boolean }[]): string[] => [
    lockSql(family.schema, family.tables, views),
    ...sequences.flatMap((s) => releaseSequenceSql(s, family.schema)),
    ...family.tables.map((t) => dropCaptureTriggerSql(family.schema, t, 'forward')),
    ...views.map((v) => moveViewSql(family.schema, v, old)),
    ...family.tables.map((t) => moveTableSql(family.schema, t, old)),
    ...family.tables.map((t) => moveTableSql(before.partitioned, t, family.schema)),
    ...partitionedViews.map((v) => moveViewSql(before.partitioned, v, family.schema)),
    ...sequences.map((s) => ownSequenceSql(s, family.schema)),
    ...fks.flatMap(repointSql),
    ...family.tables.map((t) => captureTriggerSql(family, family.schema, t, 'reverse')),
  ];
  if (opts.dryRun) {
    const shown: PlannedStatement[] = [
      ...prepare,
      { sql: '-- replay the change log in batches, then under the lock:' },
      ...locked(views).map((s, i) =>
        i === 0 ? { sql: s, lockTimeoutMs: opts.lockTimeoutMs } : { sql: s },
      ),
      { sql: '-- after the commit:' },
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

  try {
    await executePlan(db, prepare, `convert ${family.name} swap (building views on the twins)`);
  } catch (error) {
    throw new PgpartsError(
      'refused',
      `${error instanceof Error ? error.message : String(error)}\nA view on the legacy tables does not ` +
        'hold on the partitioned ones (e.g. it groups by the legacy primary key alone, which is no longer a key there). ' +
        'Nothing was switched: change the view in the live database, then run swap again',
      {
        cause: error,
        step: 'convert swap',
        docs: 'docs/postgres-behaviours.md#unique-keys-include-the-partition-key',
      },
    );
  }
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
      let replayed = 0;
      for (;;) {
        const n = await replayBatch(tx, family, layouts, 'forward', before, opts.batchSize);
        replayed += n;
        if (n === 0) break;
      }
      const now = await dependentViews(tx, family.schema, family.tables);
      if (now.map((v) => v.name).join() !== views.map((v) => v.name).join()) {
        throw new PgpartsError(
          'conversion-state',
          `pgparts: convert ${family.name} swap: the views on the legacy tables changed while the ` +
            'swap prepared; run swap again',
          { step: 'convert swap' },
        );
      }
      await runAll(tx, rest);
      await recordSwap(tx, family, true, null);
      await setProgress(tx, family, 'repointed', fks);
      lockHoldMs = performance.now() - lockedAt; // commit follows at once
      return replayed;
    },
  );
  await query(
    db,
    sql`UPDATE pgparts_convert.conversion SET lock_hold_ms = ${lockHoldMs} WHERE family = ${family.name}`,
  );
  await runAll(db, fks.map(validateSql));
  const materialized = partitionedViews.filter((v) => v.materialized).map((v) => v.name);
  const refreshed = await refreshViews(db, family.schema, materialized);
  return {
    family: family.name,
    step: 'swap',
    sql: '',
    dryRun: false,
    lockHoldMs,
    attempts,
    replayedUnderLock,
    views: partitionedViews.map((v) => v.name),
    refreshed,
  };
}

/** Refreshes materialized views: CONCURRENTLY where a unique index allows (docs/postgres-behaviours.md#refresh-concurrently). */
export async function refreshViews(
  db: AnyPgDatabase,
  schema: string,
  names: readonly string[],
): Promise<string[]> {
  for (const name of names) {
    const unique = await query<{ ok: boolean }>(
      db,
      sql`SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = ${quoteQualified(schema, name)}::regclass
            AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS ok`,
    );
    await db.execute(
      sql.raw(
        `REFRESH MATERIALIZED VIEW ${unique[0]?.ok ? 'CONCURRENTLY ' : ''}${quoteQualified(schema, name)}`,
      ),
    );
  }
  return [...names];
}
