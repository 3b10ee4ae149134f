import { sql } from 'drizzle-orm';
import {
  MAINTENANCE_RUNS_KEPT,
  MAINTENANCE_RUNS_TABLE,
  maintenanceRunsSetupSql,
  type RunOutcome,
} from '../catalog/maintenance-runs.js';
import type { FamilySpec } from '../define/spec.js';
import type { AnyPgDatabase } from './database.js';

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
 * Records one maintenance run: a row per family, with that family's steps. Creates the table on
 * first use and keeps the newest MAINTENANCE_RUNS_KEPT rows per family. One transaction, so a
 * run is recorded for every family or for none. The commit does not wait for the WAL flush.
 */
export async function recordMaintenanceRun(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  record: RunRecord,
): Promise<void> {
  await db.transaction(async (tx) => {
    // A record of what ran, not data: its commit need not wait for the WAL flush, which on a
    // busy disk is most of a no-op run's time. A server crash can lose the last records only.
    await tx.execute(sql`SET LOCAL synchronous_commit = off`);
    for (const schema of new Set(families.map((f) => f.schema))) {
      for (const statement of maintenanceRunsSetupSql(schema)) await tx.execute(sql.raw(statement));
    }
    for (const family of families) {
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
      await tx.execute(
        sql`INSERT INTO ${table} (family, started_at, outcome, steps_done, steps_failed, steps_skipped, duration_ms, steps, error)
            VALUES (${family.name}, ${record.startedAt.toISOString()}::timestamptz, ${outcome},
                    ${count('done')}, ${count('failed')}, ${count('skipped')},
                    ${Math.round(record.durationMs)}, ${JSON.stringify(steps)}::jsonb, ${record.error ?? null})`,
      );
      await tx.execute(
        sql`DELETE FROM ${table} WHERE family = ${family.name} AND id <= (
              SELECT id FROM ${table} WHERE family = ${family.name}
              ORDER BY id DESC OFFSET ${MAINTENANCE_RUNS_KEPT} LIMIT 1)`,
      );
    }
  });
}
