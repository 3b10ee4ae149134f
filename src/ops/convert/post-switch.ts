import { sql } from 'drizzle-orm';
import type { FamilySpec } from '../../define/spec.js';
import type { AnyPgDatabase } from '../../run/database.js';
import type { KeyOperation } from '../../run/key-lock.js';
import { quoteQualified } from '../../sql/identifiers.js';
import type { ExternalForeignKey } from './legacy-catalog.js';
import { validateSql } from './moves.js';
import { recordPhase } from './operation.js';
import { query } from './run-sql.js';
import { AFTER_SWITCH, type ConversionState, readState, setProgress } from './state.js';

/**
 * What a swap (or unswap) still has to do after its commit: validate the foreign keys it
 * re-pointed NOT VALID, and refresh the materialized views now in service (their last rows
 * arrived under the lock). Recorded in the switching transaction; each item leaves the record
 * when it is done. Until the record is empty the conversion is not finished: verify says so,
 * and the next swap (or `convert --all`) finishes it.
 */
export interface AfterSwitch {
  /** the schema the views are in (the family's, after either switch) */
  schema: string;
  validate: ExternalForeignKey[];
  refresh: string[];
}

export function afterSwitchPlan(
  schema: string,
  fks: readonly ExternalForeignKey[],
  materialized: readonly string[],
): AfterSwitch {
  return { schema, validate: [...fks], refresh: [...materialized] };
}

/** The work a switch left, or null when there is none. */
export function pendingAfterSwitch(state: ConversionState | null): AfterSwitch | null {
  const pending = state?.progress[AFTER_SWITCH] as AfterSwitch | null | undefined;
  if (!pending || (pending.validate.length === 0 && pending.refresh.length === 0)) return null;
  return pending;
}

/** What is left, as one line (for verify and status). */
export function describeAfterSwitch(pending: AfterSwitch): string {
  return [
    ...pending.validate.map((fk) => `VALIDATE ${fk.name} on ${fk.table}`),
    ...pending.refresh.map((v) => `REFRESH ${quoteQualified(pending.schema, v)}`),
  ].join(', ');
}

/** Runs what the switch left, item by item, each removed from the record once done. */
export async function finishAfterSwitch(
  db: AnyPgDatabase,
  family: FamilySpec,
): Promise<{ validated: string[]; refreshed: string[] }> {
  const pending = pendingAfterSwitch(await readState(db, family));
  const done = { validated: [] as string[], refreshed: [] as string[] };
  if (!pending) return done;
  const left = { ...pending, validate: [...pending.validate], refresh: [...pending.refresh] };
  while (left.validate.length > 0) {
    const fk = left.validate[0] as ExternalForeignKey;
    await db.execute(sql.raw(validateSql(fk)));
    left.validate.shift();
    done.validated.push(fk.name);
    await setProgress(db, family, AFTER_SWITCH, left);
  }
  while (left.refresh.length > 0) {
    const name = left.refresh[0] as string;
    await refreshView(db, left.schema, name);
    left.refresh.shift();
    done.refreshed.push(name);
    await setProgress(db, family, AFTER_SWITCH, left);
  }
  await setProgress(db, family, AFTER_SWITCH, null);
  return done;
}

/**
 * The end of a swap or unswap, after its commit: the phase says the work after the switch is
 * running (so `status` shows it if a crash interrupts it), then that it is done.
 */
export async function finishSwitch(
  db: AnyPgDatabase,
  family: FamilySpec,
  op: KeyOperation | null,
  step: 'swap' | 'unswap',
): Promise<{ validated: string[]; refreshed: string[] }> {
  await recordPhase(op, `${step}: after the switch`);
  const done = await finishAfterSwitch(db, family);
  await recordPhase(op, step === 'swap' ? 'swapped' : 'unswapped');
  return done;
}

/** Refreshes a materialized view: CONCURRENTLY where a unique index allows (docs/postgres-behaviours.md#refresh-concurrently). */
async function refreshView(db: AnyPgDatabase, schema: string, name: string): Promise<void> {
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
