import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../../run/lock-timeout.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { textLiteral } from '../../sql/literals.js';
import { viewsIn } from './legacy-catalog.js';
import { dropViewSql } from './moves.js';
import {
  CONVERT_SCHEMA,
  DERIVE_TRIGGER,
  deriveFunction,
  oldSchema,
  STATE_TABLE,
  twinSchema,
} from './names.js';
import { dropConversionTriggerSql } from './online-copy.js';
import { conversionStep, recordPhase } from './operation.js';
import { executePlan, formatPlan, type PlannedStatement } from './planned.js';
import type { ConvertStepResult } from './prep.js';
import { query } from './run-sql.js';
import { changesTable, readState } from './state.js';
import type { ConversionTarget } from './target.js';
import { parseOptions } from './target.js';
import type { Derivation } from './twin-ddl.js';

const abandonOptionsSchema = z
  .object({
    dryRun: z.boolean().default(false),
    lockTimeoutMs: z.number().int().positive().default(DEFAULT_LOCK_TIMEOUT_MS),
  })
  .strict();
export type AbandonOptions = z.input<typeof abandonOptionsSchema>;

/**
 * Abandon a conversion that has not swapped (after prep, backfill or fill, or after an unswap):
 * the legacy tables go back to how they were before prep, and everything the conversion made is
 * dropped, so a later prep starts from nothing. The legacy tables' rows are never touched.
 *
 * In order, each by name and never with CASCADE (a DROP that something else depends on fails
 * and says so):
 * 1. on the legacy tables (live: a short lock_timeout, retried): the capture triggers of both
 *    directions, the trigger that derives a missing partition column, and that column itself
 *    when prep added it (recorded in the conversion's state; dropping a column is a catalog
 *    change, nothing is rewritten);
 * 2. the derive functions;
 * 3. the twins' views, then the twins (referencing tables first), which takes their partitions,
 *    then the twin schema, which must then be empty;
 * 4. the family's change log and its conversion record.
 * After a swap there is nothing to abandon: unswap first (the legacy tables are then live again).
 */
export async function convertAbandon(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: AbandonOptions = {},
): Promise<ConvertStepResult & { dropped: string[]; droppedColumns: string[] }> {
  const opts = parseOptions(abandonOptionsSchema, 'abandon', options);
  return conversionStep(db, target.family, opts.dryRun, (s, op) => abandonOn(s, target, opts, op));
}

async function abandonOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: z.output<typeof abandonOptionsSchema>,
  op: KeyOperation | null,
): Promise<ConvertStepResult & { dropped: string[]; droppedColumns: string[] }> {
  const family = target.family;
  const state = await readState(db, family);
  const twin = twinSchema(family);
  if (state?.step === 'swapped' || state?.step === 'cleaned') {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} abandon: the step is ${state.step}; the partitioned tables are ` +
        (state.step === 'swapped'
          ? 'live. Run unswap first (it puts the legacy tables back), then abandon'
          : 'live and the legacy tables are gone; there is nothing to abandon'),
      { step: 'convert abandon' },
    );
  }
  const twinViews = await twinSchemaViews(db, twin);
  if (!state && !twinViews.exists) {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} abandon: no conversion of ${family.name} was started; nothing to abandon`,
      { step: 'convert abandon' },
    );
  }
  const derivations = (state?.progress.derivations ?? []) as Derivation[];
  const live = (statement: string): PlannedStatement => ({
    sql: statement,
    lockTimeoutMs: opts.lockTimeoutMs,
  });
  const plan: PlannedStatement[] = [
    ...family.tables.flatMap((t) =>
      [
        ...dropConversionTriggerSql(family, family.schema, t, 'forward'),
        ...dropConversionTriggerSql(family, family.schema, t, 'reverse'),
      ].map(live),
    ),
    ...derivations.flatMap((d) => [
      live(
        `DROP TRIGGER IF EXISTS ${quoteIdent(DERIVE_TRIGGER)} ON ${quoteQualified(family.schema, d.table)}`,
      ),
      live(
        `ALTER TABLE ${quoteQualified(family.schema, d.table)} DROP COLUMN IF EXISTS ${quoteIdent(d.column)}`,
      ),
      {
        sql: `DROP FUNCTION IF EXISTS ${quoteQualified(CONVERT_SCHEMA, deriveFunction(family, d.table))}()`,
      },
    ]),
    ...twinViews.views.map((v) => ({ sql: dropViewSql(twin, v) })),
    ...[...family.tables]
      .reverse()
      .map((t) => ({ sql: `DROP TABLE IF EXISTS ${quoteQualified(twin, t)}` })),
    { sql: `DROP SCHEMA IF EXISTS ${quoteIdent(twin)}` },
    // An unswap left it empty (the legacy tables went back); never with CASCADE.
    { sql: `DROP SCHEMA IF EXISTS ${quoteIdent(oldSchema(family))}` },
  ];
  if (state) {
    plan.push(
      { sql: `DELETE FROM ${changesTable} WHERE family = ${textLiteral(family.name)}` },
      {
        sql: `DELETE FROM ${quoteQualified(CONVERT_SCHEMA, STATE_TABLE)} WHERE family = ${textLiteral(family.name)}`,
      },
    );
  }
  if (!opts.dryRun) {
    await recordPhase(op, 'abandon');
    await executePlan(db, plan, `convert ${family.name} abandon`);
    // Nothing of the conversion is left: its record goes, and the family's keys are free again.
    await op?.end();
  }
  return {
    family: family.name,
    step: 'abandon',
    sql: formatPlan(plan),
    dryRun: opts.dryRun,
    dropped: family.tables.map((t) => `${twin}.${t}`),
    droppedColumns: derivations.map((d) => `${family.schema}.${d.table}.${d.column}`),
  };
}

/** Whether the twin schema exists, and the views in it (dropped before the twins). */
async function twinSchemaViews(
  db: AnyPgDatabase,
  twin: string,
): Promise<{ exists: boolean; views: { name: string; materialized: boolean }[] }> {
  const rows = await query<{ ok: boolean }>(
    db,
    sql`SELECT to_regnamespace(${quoteIdent(twin)}) IS NOT NULL AS ok`,
  );
  const exists = rows[0]?.ok === true;
  return { exists, views: exists ? await viewsIn(db, twin) : [] };
}
