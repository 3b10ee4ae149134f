import { sql } from 'drizzle-orm';
import type { FamilySpec } from '../define/spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';

/**
 * Maintenance runs (apply / maintain) as pgparts recorded them: one row per run and family, in
 * the family's schema next to pgparts_retired_keys, created by the first run that records one.
 * `status` shows the last run and the last success; the Prometheus output turns the last
 * success into seconds since.
 */
export const MAINTENANCE_RUNS_TABLE = 'pgparts_maintenance_runs';

/** Rows kept per family; older ones are deleted when a run is recorded. */
export const MAINTENANCE_RUNS_KEPT = 500;

export type RunOutcome = 'ok' | 'failed' | 'error';

export function maintenanceRunsSetupSql(schema: string): string[] {
  const table = quoteQualified(schema, MAINTENANCE_RUNS_TABLE);
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
  "id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "family" text NOT NULL,
  "started_at" timestamptz NOT NULL,
  "finished_at" timestamptz NOT NULL DEFAULT now(),
  "outcome" text NOT NULL CHECK ("outcome" IN ('ok', 'failed', 'error')),
  "steps_done" integer NOT NULL,
  "steps_failed" integer NOT NULL,
  "steps_skipped" integer NOT NULL,
  "duration_ms" integer NOT NULL,
  "steps" jsonb NOT NULL,
  "error" text
)`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${MAINTENANCE_RUNS_TABLE}_family_idx`)} ON ${table} ("family", "finished_at")`,
  ];
}

export interface MaintenanceRun {
  family: string;
  startedAt: Date;
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
  outcome: RunOutcome;
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
    outcome: row.outcome,
    stepsDone: Number(row.steps_done),
    stepsFailed: Number(row.steps_failed),
    stepsSkipped: Number(row.steps_skipped),
    durationMs: Number(row.duration_ms),
    steps: typeof row.steps === 'string' ? JSON.parse(row.steps) : row.steps,
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
    const [exists] = rowsOf<{ t: string | null }>(
      await db.execute(
        sql`SELECT to_regclass(${quoteQualified(family.schema, MAINTENANCE_RUNS_TABLE)})::text AS t`,
      ),
    );
    if (!exists?.t) {
      result.push({ family: family.name, lastRun: null, lastSuccess: null });
      continue;
    }
    const table = sql`${sql.identifier(family.schema)}.${sql.identifier(MAINTENANCE_RUNS_TABLE)}`;
    const columns = sql.raw(
      'family, extract(epoch FROM started_at) * 1000 AS started_ms, extract(epoch FROM finished_at) * 1000 AS finished_ms, outcome, steps_done, steps_failed, steps_skipped, duration_ms, steps::text AS steps, error',
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
