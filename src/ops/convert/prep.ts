import { sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import { assertSupportedServer } from '../../catalog/server-version.js';
import { MANAGED_MARKER } from '../../define/marker.js';
import { partitionName } from '../../define/partition-key.js';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../../run/lock-timeout.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { dollarQuoted, textLiteral } from '../../sql/literals.js';
import { boundSpecSql } from '../../sql/partition-ddl.js';
import { statisticsTargetsSql } from '../../sql/statistics-targets.js';
import { setTriggerSql } from '../online-copy/capture.js';
import { partitionsOf, readTable } from './legacy-catalog.js';
import { CONVERT_SCHEMA, DERIVE_TRIGGER, deriveFunction, twinSchema } from './names.js';
import { conversionStep, recordPhase } from './operation.js';
import { partitionKeysFor } from './partition-keys.js';
import { executePlan, formatPlan, type PlannedStatement } from './planned.js';
import { checksTwinsLack, swapInputs, trialSwap, triggersTwinsLack } from './preflight.js';
import { query } from './run-sql.js';
import { reached, readState, setProgress, setStep, stateSchemaSql } from './state.js';
import { type ConversionTarget, createdObject, parseOptions } from './target.js';
import { compareColumns, type Derivation, twinIndexSql, twinTableSql } from './twin-ddl.js';

export const prepOptionsSchema = z
  .object({
    dryRun: z.boolean().default(false),
    lockTimeoutMs: z.number().int().min(1).max(600_000).default(DEFAULT_LOCK_TIMEOUT_MS),
  })
  .strict();
export type PrepOptions = z.input<typeof prepOptionsSchema>;

export interface ConvertStepResult {
  family: string;
  step: string;
  /** The SQL the step ran (or, with dryRun, would run). */
  sql: string;
  dryRun: boolean;
}

/** What prep made, and what is left to the app before the swap. */
export interface PrepResult {
  partitionsCreated: string[];
  needsBackfill: string[];
  /** What the app must do before swap can run (its triggers on the legacy tables), one line each. */
  beforeSwap: string[];
}

async function existsIn(db: AnyPgDatabase, schema: string, name: string): Promise<boolean> {
  const rows = await query<{ ok: boolean }>(
    db,
    sql`SELECT to_regclass(${quoteQualified(schema, name)}) IS NOT NULL AS ok`,
  );
  return rows[0]?.ok === true;
}

/** The BEFORE trigger that fills the partition column of legacy rows from their parent row. */
function deriveSql(
  target: ConversionTarget,
  d: Derivation,
  lockTimeoutMs: number,
): PlannedStatement[] {
  const family = target.family;
  const fn = quoteQualified(CONVERT_SCHEMA, deriveFunction(family, d.table));
  const table = quoteQualified(family.schema, d.table);
  const drizzle = target.tables.find((t) => getTableConfig(t).name === d.table);
  const type =
    drizzle &&
    getTableConfig(drizzle)
      .columns.find((c) => c.name === d.column)
      ?.getSQLType();
  const match = d.join.map(([here, there]) => `p.${quoteIdent(there)} = NEW.${quoteIdent(here)}`);
  return [
    {
      // Nullable and without default: a catalog-only change; backfill fills existing rows.
      sql: `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${quoteIdent(d.column)} ${type ?? 'integer'}`,
      lockTimeoutMs,
    },
    {
      sql: `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuoted(`
BEGIN
  IF NEW.${quoteIdent(d.column)} IS NULL THEN
    SELECT p.${quoteIdent(d.parentColumn)} INTO NEW.${quoteIdent(d.column)}
    FROM ${quoteQualified(family.schema, d.parent)} p WHERE ${match.join(' AND ')};
  END IF;
  RETURN NEW;
END
`)}`,
    },
    {
      sql:
        `CREATE OR REPLACE TRIGGER ${quoteIdent(DERIVE_TRIGGER)} BEFORE INSERT OR UPDATE ON ${table} ` +
        `FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
      lockTimeoutMs,
    },
    // Also for writers with session_replication_role = replica (a subscription's apply worker):
    // an ordinary trigger skips them, and their rows would reach the twin without the column.
    {
      sql: setTriggerSql(table, DERIVE_TRIGGER, 'ENABLE ALWAYS'),
      lockTimeoutMs,
    },
  ];
}

/**
 * Step 1, prep: the partitioned twins (declared columns, corrected keys, foreign keys between
 * twins, declared indexes and index extras), a partition for every key present in the data plus
 * DEFAULT per the spec, and on legacy tables that lack the partition column, the column and a
 * trigger that fills it for new rows. Safe to run again: it adds only what is missing (new keys
 * that appeared since get their partitions).
 */
export async function convertPrep(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: PrepOptions = {},
): Promise<ConvertStepResult & PrepResult> {
  const opts = parseOptions(prepOptionsSchema, 'prep', options);
  return conversionStep(db, target.family, opts.dryRun, (s, op) => prepOn(s, target, opts, op));
}

async function prepOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: z.output<typeof prepOptionsSchema>,
  op: KeyOperation | null,
): Promise<ConvertStepResult & PrepResult> {
  const family = target.family;
  await assertSupportedServer(db);
  const state = await readState(db, family);
  if (reached(state, 'swapped')) {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: family ${family.name} is already swapped (step ${state?.step}); prep has nothing to do. ` +
        'Run verify, then cleanup, or unswap to go back',
      { step: 'convert prep' },
    );
  }
  const twin = twinSchema(family);
  const plan: PlannedStatement[] = stateSchemaSql().map((s) => ({ sql: s }));
  plan.push({ sql: `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(twin)}` });
  const derivations: Derivation[] = [];
  const withColumn: string[] = [];
  const statistics: string[] = [];
  for (const table of target.tables) {
    const { name, columns } = getTableConfig(table);
    const legacy = await readTable(db, family.schema, name);
    if (!legacy) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: family ${family.name}: there is no table ${family.schema}.${name} to convert`,
        { step: 'convert prep', table: `${family.schema}.${name}` },
      );
    }
    if (legacy.kind === 'p') {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${family.schema}.${name} is already partitioned; there is nothing to convert`,
        { step: 'convert prep', table: `${family.schema}.${name}` },
      );
    }
    // The legacy columns' statistics targets, set on the twin once its partitions exist (SET
    // STATISTICS on a parent reaches the partitions it has; pgparts gives later ones the parent's).
    statistics.push(
      ...statisticsTargetsSql(
        quoteQualified(twin, name),
        legacy.statisticsTargets.filter((s) => columns.some((c) => c.name === s.column)),
      ),
    );
    const { derivation } = compareColumns(family, table, legacy);
    if (derivation) derivations.push(derivation);
    else withColumn.push(name);
    if (!(await readTable(db, twin, name))) {
      plan.push({ sql: twinTableSql(family, table, legacy, twin) });
    }
    // Each index on its own: a prep killed between two of them creates the rest when rerun.
    for (const statement of twinIndexSql(table, twin)) {
      if (!(await existsIn(db, twin, createdObject(statement).name))) plan.push({ sql: statement });
    }
  }
  // Derivations found by an earlier run (the column exists now) are re-applied: all idempotent.
  const recorded = (state?.progress.derivations ?? []) as Derivation[];
  for (const d of recorded) {
    if (!derivations.some((x) => x.table === d.table)) derivations.push(d);
  }
  // Index extras on the family tables (e.g. an INCLUDE index) go on the twins now.
  for (const extra of target.extras) {
    const object = createdObject(extra);
    if (object.kind !== 'index' || !object.on || !family.tables.includes(object.on)) continue;
    if (!(await existsIn(db, twin, object.name))) {
      plan.push({ sql: extra, searchPath: `${quoteIdent(twin)}, ${quoteIdent(family.schema)}` });
    }
  }
  // The swap's preconditions, proven before the first change: a conversion that cannot finish
  // is refused here, not after the hours a fill can take (see preflight.ts).
  const twinDdl = plan.slice(stateSchemaSql().length);
  await trialSwap(db, target, twinDdl, await swapInputs(db, target, 'convert prep'));
  const keys = await partitionKeysFor(db, family, withColumn);
  const created: string[] = [];
  for (const table of family.tables) {
    const existing = new Set(await partitionsOf(db, twin, table));
    for (const key of keys) {
      const name = partitionName(family, table, key);
      if (existing.has(name)) continue;
      const qualified = quoteQualified(family.schema, name);
      created.push(name);
      plan.push({
        sql: `CREATE TABLE ${qualified} PARTITION OF ${quoteQualified(twin, table)} ${boundSpecSql(key)}`,
      });
      plan.push({ sql: `COMMENT ON TABLE ${qualified} IS ${textLiteral(MANAGED_MARKER)}` });
    }
  }
  plan.push(...statistics.map((s) => ({ sql: s })));
  const legacyDdl = derivations.flatMap((d) => deriveSql(target, d, opts.lockTimeoutMs));
  // The app's own triggers are not copied: swap refuses while a legacy table has one its twin
  // lacks. Said now, so it is done before the fill rather than found after it.
  const beforeSwap = [
    ...(await triggersTwinsLack(db, target)).map(
      (t) =>
        `trigger ${t.name} on ${family.schema}.${t.table} is not copied: create it (same name) on ` +
        `${twin}.${t.table}, or drop it, before swap (swap refuses until then)`,
    ),
    // Not refused by the swap; said now, while adding it to the twin is one ALTER TABLE.
    ...(await checksTwinsLack(db, target)).map(
      (c) =>
        `constraint ${c.name} on ${family.schema}.${c.table} (${c.definition}) is not declared, so the ` +
        `partitioned table will not enforce it, and a row written after the swap that breaks it stops ` +
        `an unswap: add it (same name) to ${twin}.${c.table} or declare it in the Drizzle table, or drop it, before swap`,
    ),
  ];
  if (!opts.dryRun) {
    await recordPhase(op, 'prep');
    await executePlan(db, plan, `convert ${family.name} prep`);
    // Recorded before the legacy tables change, so a rerun knows what to finish.
    if (!state) await setStep(db, family, 'prepped');
    if (derivations.length > 0) await setProgress(db, family, 'derivations', derivations);
    await executePlan(db, legacyDdl, `convert ${family.name} prep`);
    if (!reached(state, 'backfilled')) await recordPhase(op, 'prepped');
  }
  return {
    family: family.name,
    step: 'prep',
    sql: formatPlan([...plan, ...legacyDdl]),
    dryRun: opts.dryRun,
    partitionsCreated: created,
    needsBackfill: derivations.map((d) => d.table),
    beforeSwap,
  };
}
