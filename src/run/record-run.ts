import { type SQL, sql } from 'drizzle-orm';
import {
  MAINTENANCE_RUNS_KEPT,
  MAINTENANCE_RUNS_TABLE,
  maintenanceRunsSetupSql,
  type RunOutcome,
} from '../catalog/maintenance-runs.js';
import type { FamilySpec } from '../define/spec.js';
import type { AnyPgDatabase } from './database.js';
import { pgErrorCode, UNDEFINED_TABLE } from './pg-error.js';

/** The part of apply's StepResult a record keeps. */
export interface RecordedStep {
  step: { family: string; kind: string; label: string };
  outcome: 'done' | 'skipped' | 'failed';
  message?: string;
}

export interface RunRecord {
  startedAt: Date;
  durationMs: number;
  results: readonly RecordedStep[];
  /** What ended the run early, when something did. */
  error?: string;
}

/**
 * The one statement that records a run: a row per family, with that family's steps, and the
 * family's rows beyond the newest MAINTENANCE_RUNS_KEPT deleted. One statement is one
 * transaction, so a run is recorded for every family or for none. Its commit does not wait for
 * the WAL flush (set_config local to the statement's own transaction, read at its commit): a
 * record of what ran, not data, and on a busy disk the flush is most of a no-op run's time; a
 * server crash can lose the last records only.
 */
export function recordRunSql(families: readonly FamilySpec[], record: RunRecord): SQL {
  const parts = families.map((family, i) => {
    const results = record.results.filter((r) => r.step.family === family.name);
    const count = (outcome: RecordedStep['outcome']) =>
      results.filter((r) => r.outcome === outcome).length;
    const outcome: RunOutcome = record.error ? 'error' : count('failed') > 0 ? 'failed' : 'ok';
    const steps = results.map((r) => ({
      kind: r.step.kind,
      label: r.step.label,
      outcome: r.outcome,
      ...(r.outcome !== 'done' && r.message ? { message: r.message } : {}),
    }));
    const table = sql`${sql.identifier(family.schema)}.${sql.identifier(MAINTENANCE_RUNS_TABLE)}`;
    // The DELETE sees the rows from before the INSERT (one snapshot for the statement): keeping
    // MAINTENANCE_RUNS_KEPT - 1 of them keeps MAINTENANCE_RUNS_KEPT with the new one.
    return sql`, ${sql.raw(`added_${i}`)} AS (
        INSERT INTO ${table} (family, started_at, outcome, steps_done, steps_failed, steps_skipped, duration_ms, steps, error)
        VALUES (${family.name}, ${record.startedAt.toISOString()}::timestamptz, ${outcome},
                ${count('done')}, ${count('failed')}, ${count('skipped')},
                ${Math.round(record.durationMs)}, ${JSON.stringify(steps)}::jsonb, ${record.error ?? null})
        RETURNING id),
      ${sql.raw(`trimmed_${i}`)} AS (
        DELETE FROM ${table} WHERE family = ${family.name} AND id <= (
          SELECT id FROM ${table} WHERE family = ${family.name}
          ORDER BY id DESC OFFSET ${MAINTENANCE_RUNS_KEPT - 1} LIMIT 1)
        RETURNING id)`;
  });
  return sql`WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS v)${sql.join(parts, sql``)}
    SELECT (SELECT count(*) FROM no_flush_wait)::int AS settings`;
}

/**
 * Records one maintenance run (recordRunSql): one round trip once the record's table exists.
 * The table is created on first use: when the statement finds it missing (the first run in a
 * schema), it is created and the statement runs again. With `tableExists` (the run's catalog
 * read saw it in every family's schema) the statement is all there is, so what the caller sends
 * behind it (the lock's release) goes out with it and still runs after it.
 */
export async function recordMaintenanceRun(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  record: RunRecord,
  options: { tableExists?: boolean } = {},
): Promise<void> {
  if (families.length === 0) return;
  const statement = recordRunSql(families, record);
  if (options.tableExists) {
    await db.execute(statement);
    return;
  }
  try {
    await db.execute(statement);
    return;
  } catch (error) {
    if (pgErrorCode(error) !== UNDEFINED_TABLE) throw error;
  }
  for (const schema of new Set(families.map((f) => f.schema))) {
    for (const setup of maintenanceRunsSetupSql(schema)) await db.execute(sql.raw(setup));
  }
  await db.execute(statement);
}
