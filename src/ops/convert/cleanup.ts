import { z } from 'zod';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../../run/lock-timeout.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { textLiteral } from '../../sql/literals.js';
import { viewsIn } from './legacy-catalog.js';
import { dropViewSql } from './moves.js';
import { CONVERT_SCHEMA, deriveFunction, oldSchema, twinSchema } from './names.js';
import { dropConversionTriggerSql } from './online-copy.js';
import { conversionStep, recordPhase } from './operation.js';
import { executePlan, formatPlan, type PlannedStatement } from './planned.js';
import type { ConvertStepResult } from './prep.js';
import { changesTable, readState, setStep } from './state.js';
import type { ConversionTarget } from './target.js';
import { parseOptions } from './target.js';
import type { Derivation } from './twin-ddl.js';

const cleanupOptionsSchema = z.object({ dryRun: z.boolean().default(false) }).strict();

/**
 * Step 7, cleanup: only after a swap and a passing verify run after it. Drops what the conversion
 * parked or created, each by name and never with CASCADE: the reverse-capture triggers, the legacy
 * views and tables in pgparts_<family>_old (views first, referencing tables before referenced),
 * the derive functions, the two conversion schemas (which must then be empty) and the family's
 * change log. A DROP that something else depends on fails and says so; nothing is forced.
 */
export async function convertCleanup(
  db: AnyPgDatabase,
  target: ConversionTarget,
  options: { dryRun?: boolean } = {},
): Promise<ConvertStepResult & { dropped: string[] }> {
  const opts = parseOptions(cleanupOptionsSchema, 'cleanup', options);
  return conversionStep(db, target.family, opts.dryRun, (s, op) => cleanupOn(s, target, opts, op));
}

async function cleanupOn(
  db: AnyPgDatabase,
  target: ConversionTarget,
  opts: z.output<typeof cleanupOptionsSchema>,
  op: KeyOperation | null,
): Promise<ConvertStepResult & { dropped: string[] }> {
  const family = target.family;
  const state = await readState(db, family);
  if (state?.step !== 'swapped') {
    throw new PgpartsError(
      'conversion-state',
      `pgparts: convert ${family.name} cleanup: the step is ${state?.step ?? 'not started'}; cleanup only follows a swap`,
      { step: 'convert cleanup' },
    );
  }
  if (
    !state.verifyOk ||
    !state.verifiedAt ||
    !state.swappedAt ||
    state.verifiedAt < state.swappedAt
  ) {
    throw new PgpartsError(
      'refused',
      `pgparts: convert ${family.name} cleanup: refused, there is no passing verify since the swap ` +
        `(last verify: ${state.verifiedAt ? (state.verifyOk ? 'passed before the swap' : 'FAILED') : 'never'}); run verify first`,
      { step: 'convert cleanup' },
    );
  }
  const old = oldSchema(family);
  const plan: PlannedStatement[] = [
    // On live tables: a short lock_timeout, retried. Every statement is safe to run again.
    ...family.tables.flatMap((t) =>
      dropConversionTriggerSql(family, family.schema, t, 'reverse').map((sql) => ({
        sql,
        lockTimeoutMs: DEFAULT_LOCK_TIMEOUT_MS,
      })),
    ),
    ...(await viewsIn(db, old)).map((v) => ({ sql: dropViewSql(old, v) })),
    ...[...family.tables]
      .reverse()
      .map((t) => ({ sql: `DROP TABLE IF EXISTS ${quoteQualified(old, t)}` })),
    ...((state.progress.derivations ?? []) as Derivation[]).map((d) => ({
      sql: `DROP FUNCTION IF EXISTS ${quoteQualified(CONVERT_SCHEMA, deriveFunction(family, d.table))}()`,
    })),
    { sql: `DROP SCHEMA IF EXISTS ${quoteIdent(old)}` },
    { sql: `DROP SCHEMA IF EXISTS ${quoteIdent(twinSchema(family))}` },
    { sql: `DELETE FROM ${changesTable} WHERE family = ${textLiteral(family.name)}` },
  ];
  if (!opts.dryRun) {
    await recordPhase(op, 'cleanup');
    await executePlan(db, plan, `convert ${family.name} cleanup`);
    await setStep(db, family, 'cleaned');
    // The conversion is complete: its record goes, and the family's keys are free again.
    await op?.end();
  }
  return {
    family: family.name,
    step: 'cleanup',
    sql: formatPlan(plan),
    dryRun: opts.dryRun,
    dropped: family.tables.map((t) => `${old}.${t}`),
  };
}
