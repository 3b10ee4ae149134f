import { sql } from 'drizzle-orm';
import type { FamilySpec } from '../define/spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { jsonValue, rowsOf } from '../run/rows.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { textLiteral } from '../sql/literals.js';

/**
 * Maintenance runs (apply / maintain) as pgparts recorded them: one row per run and family, in
 * the family's schema next to pgparts_retired_keys, created by the first run that records one.
 * `status` shows the last run and the last success; the Prometheus output turns the last
 * success into seconds since.
 */
export const MAINTENANCE_RUNS_TABLE = 'pgparts_maintenance_runs';

/** Rows kept per family; older ones are deleted when a run is recorded. */
export const MAINTENANCE_RUNS_KEPT = 500;

/**
 * What a run's row says. 'running' is written when a run that has steps to run begins them, and
 * replaced by its outcome at its end; a run cut off (connection lost, process killed) leaves it.
 */
export type StoredRunOutcome = 'ok' | 'failed' | 'error' | 'running';

/**
 * As read: a 'running' row whose run's session no longer holds an advisory lock (the maintenance
 * lock it held throughout) is 'interrupted': it never finished.
 */
export type RunOutcome = StoredRunOutcome | 'interrupted';

const OUTCOME_CHECK = `${MAINTENANCE_RUNS_TABLE}_outcome_check`;

export function maintenanceRunsSetupSql(schema: string): string[] {
  const table = quoteQualified(schema, MAINTENANCE_RUNS_TABLE);
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "family" text NOT NULL,
  "started_at" timestamptz NOT NULL,
  "finished_at" timestamptz NOT NULL DEFAULT now(),
  "outcome" text NOT NULL CONSTRAINT ${quoteIdent(OUTCOME_CHECK)} CHECK ("outcome" IN ('ok', 'failed', 'error', 'running')),
  "steps_done" integer NOT NULL,
  "steps_failed" integer NOT NULL,
  "steps_skipped" integer NOT NULL,
  "duration_ms" integer NOT NULL,
  "steps" jsonb NOT NULL,
  "error" text,
  "pid" integer
)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${MAINTENANCE_RUNS_TABLE}_family_idx`)} ON ${table} ("family", "finished_at")`,
    ...maintenanceRunsUpgradeSql(schema),
  ];
}

/**
 * The statements that bring a table made by pgparts 0.1.0 to this shape: a `pid` column (the
 * backend of a run in progress) and 'running' in the outcome CHECK. Unguarded, as its owner would
 * run them by hand (a warning shows them when the run's role may not); maintenanceRunsUpgradeSql
 * runs them.
 */
export function maintenanceRunsAlterSql(schema: string): [addPid: string, outcomeCheck: string] {
  const table = quoteQualified(schema, MAINTENANCE_RUNS_TABLE);
  return [
    `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS "pid" integer`,
    `ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${quoteIdent(OUTCOME_CHECK)},
  ADD CONSTRAINT ${quoteIdent(OUTCOME_CHECK)} CHECK ("outcome" IN ('ok', 'failed', 'error', 'running'))`,
  ];
}

/**
 * maintenanceRunsAlterSql, idempotent (the CHECK is replaced only when it lacks 'running'): run
 * where the table's setup runs, and when a run's 'running' row was refused for want of them.
 */
export function maintenanceRunsUpgradeSql(schema: string): string[] {
  const table = quoteQualified(schema, MAINTENANCE_RUNS_TABLE);
  const [addPid, outcomeCheck] = maintenanceRunsAlterSql(schema);
  return [
    addPid,
    `DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = ${textLiteral(table)}::regclass
                 AND conname = ${textLiteral(OUTCOME_CHECK)}
                 AND pg_get_constraintdef(oid) LIKE '%running%') THEN
    ${outcomeCheck};
  END IF;
END $$`,
  ];
}

export interface MaintenanceRun {
  family: string;
  startedAt: Date;
  /** When it ended; for one running or interrupted, when it recorded that it began its steps. */
  finishedAt: Date;
  outcome: RunOutcome;
  stepsDone: number;
  stepsFailed: number;
  stepsSkipped: number;
  durationMs: number;
  /** Each step of the family: kind, label, outcome, and the message of a failed one. */
  steps: { kind: string; label: string; outcome: string; message?: string }[];
  /** What stopped a run that ended in an error before or between its steps. */
  error: string | null;
}

export interface FamilyRuns {
  family: string;
  lastRun: MaintenanceRun | null;
  /** The last run whose outcome was 'ok'. */
  lastSuccess: MaintenanceRun | null;
}

interface RunRow {
  family: string;
  started_ms: number | string;
  finished_ms: number | string;
  outcome: StoredRunOutcome;
  /** The run's backend holds an advisory lock now (its maintenance lock): it is running. */
  lock_held: boolean | null;
  steps_done: number;
  steps_failed: number;
  steps_skipped: number;
  duration_ms: number;
  steps: MaintenanceRun['steps'] | string;
  error: string | null;
}

function toRun(row: RunRow): MaintenanceRun {
  return {
    family: row.family,
    startedAt: new Date(Number(row.started_ms)),
    finishedAt: new Date(Number(row.finished_ms)),
    outcome: row.outcome === 'running' && row.lock_held !== true ? 'interrupted' : row.outcome,
    stepsDone: Number(row.steps_done),
    stepsFailed: Number(row.steps_failed),
    stepsSkipped: Number(row.steps_skipped),
    durationMs: Number(row.duration_ms),
    steps: jsonValue(row.steps),
    error: row.error,
  };
}

/** The last run and the last successful run of each family; nulls before the first record. */
export async function readMaintenanceRuns(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
): Promise<FamilyRuns[]> {
  const result: FamilyRuns[] = [];
  for (const family of families) {
    const qualified = quoteQualified(family.schema, MAINTENANCE_RUNS_TABLE);
    const [exists] = rowsOf<{ t: string | null; pid: boolean }>(
      await db.execute(
        sql`SELECT to_regclass(${qualified})::text AS t,
                   EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(${qualified})
                           AND attname = 'pid' AND NOT attisdropped) AS pid`,
      ),
    );
    if (!exists?.t) {
      result.push({ family: family.name, lastRun: null, lastSuccess: null });
      continue;
    }
    const table = sql`${sql.identifier(family.schema)}.${sql.identifier(MAINTENANCE_RUNS_TABLE)}`;
    // A 'running' row's run holds the maintenance lock (an advisory lock) on its backend
    // until it ends; pg_locks shows every session's locks to any role. A table of 0.1.0 has no
    // pid, and no 'running' row either.
    const lockHeld = exists.pid
      ? `outcome = 'running' AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'
           AND l.granted AND l.pid = ${MAINTENANCE_RUNS_TABLE}.pid
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`
      : 'NULL::boolean';
    const columns = sql.raw(
      `family, extract(epoch FROM started_at) * 1000 AS started_ms, extract(epoch FROM finished_at) * 1000 AS finished_ms, outcome, ${lockHeld} AS lock_held, steps_done, steps_failed, steps_skipped, duration_ms, steps::text AS steps, error`,
    );
    const [last] = rowsOf<RunRow>(
      await db.execute(
        sql`SELECT ${columns} FROM ${table} WHERE family = ${family.name} ORDER BY finished_at DESC, id DESC LIMIT 1`,
      ),
    );
    const [success] = rowsOf<RunRow>(
      await db.execute(
        sql`SELECT ${columns} FROM ${table} WHERE family = ${family.name} AND outcome = 'ok' ORDER BY finished_at DESC, id DESC LIMIT 1`,
      ),
    );
    result.push({
      family: family.name,
      lastRun: last ? toRun(last) : null,
      lastSuccess: success ? toRun(success) : null,
    });
  }
  return result;
}
