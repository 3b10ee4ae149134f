import { sql } from 'drizzle-orm';
import { OPERATIONS_TABLE } from '../../catalog/operations.js';
import type { FamilySpec } from '../../define/spec.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { WHOLE_FAMILY_KEY } from '../../run/key-lock.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { rowLog, rowLogSetupSql } from '../online-copy/capture.js';
import { CONVERT_SCHEMA, STATE_TABLE } from './names.js';
import { query } from './run-sql.js';

/**
 * The conversion's state, one row per family in pgparts_convert.conversion: which step is done
 * and where each batch step stopped. Every batch commits its progress in the same transaction as
 * its rows, so a killed step resumes exactly where it stopped.
 */
export const STEPS = ['prepped', 'backfilled', 'filled', 'swapped', 'cleaned'] as const;
export type Step = (typeof STEPS)[number];

export interface ConversionState {
  step: Step;
  progress: Record<string, unknown>;
  swappedAt: Date | null;
  verifiedAt: Date | null;
  verifyOk: boolean | null;
  lockHoldMs: number | null;
}

/**
 * The progress key of the work that follows a swap's or unswap's commit (validating re-pointed
 * foreign keys, refreshing materialized views): written in the switching transaction, each item
 * removed once done, so a crash in between is finished by the next run (see post-switch.ts).
 */
export const AFTER_SWITCH = 'afterSwitch';

const stateTable = quoteQualified(CONVERT_SCHEMA, STATE_TABLE);
export const changesTable = rowLog.table;
export const captureFunction = rowLog.function;

/** The schema, state table, change log and capture function; safe to run again. */
export function stateSchemaSql(): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(CONVERT_SCHEMA)}`,
    `CREATE TABLE IF NOT EXISTS ${stateTable} (
  "family" text PRIMARY KEY,
  "step" text NOT NULL,
  "progress" jsonb NOT NULL DEFAULT '{}',
  "swapped_at" timestamptz,
  "verified_at" timestamptz,
  "verify_ok" boolean,
  "lock_hold_ms" double precision,
  "updated_at" timestamptz NOT NULL DEFAULT now()
)`,
    // The change log and its capture function (src/ops/online-copy/capture.ts).
    ...rowLogSetupSql(),
  ];
}

export async function readState(
  db: AnyPgDatabase,
  family: FamilySpec,
): Promise<ConversionState | null> {
  const exists = await query<{ ok: boolean }>(
    db,
    sql`SELECT to_regclass(${quoteQualified(CONVERT_SCHEMA, STATE_TABLE)}) IS NOT NULL AS ok`,
  );
  if (!exists[0]?.ok) return null;
  const rows = await query<{
    step: Step;
    progress: string;
    swapped_at: string | null;
    verified_at: string | null;
    verify_ok: boolean | null;
    lock_hold_ms: number | null;
  }>(
    db,
    sql`SELECT step, progress::text AS progress, swapped_at::text, verified_at::text, verify_ok,
               lock_hold_ms FROM ${sql.raw(stateTable)} WHERE family = ${family.name}`,
  );
  const row = rows[0];
  if (!row) return null;
  return {
    step: row.step,
    progress: JSON.parse(row.progress) as Record<string, unknown>,
    swappedAt: row.swapped_at ? new Date(row.swapped_at) : null,
    verifiedAt: row.verified_at ? new Date(row.verified_at) : null,
    verifyOk: row.verify_ok,
    lockHoldMs: row.lock_hold_ms === null ? null : Number(row.lock_hold_ms),
  };
}

export async function setStep(db: AnyPgDatabase, family: FamilySpec, step: Step): Promise<void> {
  await db.execute(
    sql`INSERT INTO ${sql.raw(stateTable)} (family, step) VALUES (${family.name}, ${step})
        ON CONFLICT (family) DO UPDATE SET step = EXCLUDED.step, updated_at = now()`,
  );
}

/** Sets one top-level key of the progress document (e.g. `fill.leaderboard_run`). */
export async function setProgress(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: string,
  value: unknown,
): Promise<void> {
  await db.execute(
    sql`UPDATE ${sql.raw(stateTable)}
        SET progress = progress || jsonb_build_object(${key}::text, ${JSON.stringify(value)}::jsonb),
            updated_at = now()
        WHERE family = ${family.name}`,
  );
}

export async function recordSwap(
  db: AnyPgDatabase,
  family: FamilySpec,
  swapped: boolean,
  lockHoldMs: number | null,
): Promise<void> {
  await db.execute(
    sql`UPDATE ${sql.raw(stateTable)}
        SET step = ${swapped ? 'swapped' : 'filled'},
            swapped_at = CASE WHEN ${swapped} THEN now() END,
            lock_hold_ms = ${lockHoldMs}, verified_at = NULL, verify_ok = NULL, updated_at = now()
        WHERE family = ${family.name}`,
  );
}

/**
 * A verify's outcome, in the conversion's state (cleanup needs a passing one after the swap)
 * and, after the swap, as the phase of its operations record, which `status` reads to say what
 * comes next: `verified` (cleanup, or unswap) or `verify-failed`. Only over a phase a verify
 * after the swap leaves: a step that moved on meanwhile keeps its own.
 */
export async function recordVerify(
  db: AnyPgDatabase,
  family: FamilySpec,
  ok: boolean,
  swapped: boolean,
): Promise<void> {
  await db.execute(
    sql`UPDATE ${sql.raw(stateTable)} SET verified_at = clock_timestamp(), verify_ok = ${ok},
        updated_at = now() WHERE family = ${family.name}`,
  );
  if (!swapped) return;
  const operations = quoteQualified(family.schema, OPERATIONS_TABLE);
  const [table] = await query<{ t: string | null }>(
    db,
    sql`SELECT to_regclass(${operations})::text AS t`,
  );
  if (!table?.t) return;
  await db.execute(
    sql`UPDATE ${sql.raw(operations)} SET phase = ${ok ? 'verified' : 'verify-failed'}, updated_at = now()
        WHERE family = ${family.name} AND key = ${WHOLE_FAMILY_KEY} AND operation = 'convert'
          AND phase IN ('swapped', 'verified', 'verify-failed')`,
  );
}

/** Serialises the conversion's own transactions for one family (batches, replays, the swap). */
export async function lockFamily(tx: AnyPgDatabase, family: FamilySpec): Promise<void> {
  await tx.execute(
    sql`SELECT pg_advisory_xact_lock(hashtext(${`pgparts:convert:${family.name}`}))`,
  );
}

const ORDER = new Map(STEPS.map((s, i) => [s, i]));
/** Whether the recorded step is at least `step`. */
export function reached(state: ConversionState | null, step: Step): boolean {
  return state !== null && (ORDER.get(state.step) ?? -1) >= (ORDER.get(step) ?? 99);
}
