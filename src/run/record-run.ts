import { type SQL, sql } from 'drizzle-orm';
import {
  MAINTENANCE_RUNS_KEPT,
  MAINTENANCE_RUNS_TABLE,
  maintenanceRunsAlterSql,
  maintenanceRunsSetupSql,
  maintenanceRunsUpgradeSql,
  type StoredRunOutcome,
} from '../catalog/maintenance-runs.js';
import type { FamilySpec } from '../define/spec.js';
import { quoteQualified } from '../sql/identifiers.js';
import { dollarQuoted, textLiteral } from '../sql/literals.js';
import type { AnyPgDatabase } from './database.js';
import { pgErrorCode, pgErrorMessage, UNDEFINED_TABLE } from './pg-error.js';
import { rowsOf } from './rows.js';

/** undefined_column, check_violation: what a table of 0.1.0 answers a 'running' row. */
const UNDEFINED_COLUMN = '42703';
const CHECK_VIOLATION = '23514';

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

/** A family's part of a run's record: its outcome, counts and steps. */
function familyRow(family: FamilySpec, record: RunRecord) {
  const results = record.results.filter((r) => r.step.family === family.name);
  const count = (outcome: RecordedStep['outcome']) =>
    results.filter((r) => r.outcome === outcome).length;
  const outcome: StoredRunOutcome = record.error ? 'error' : count('failed') > 0 ? 'failed' : 'ok';
  const steps = results.map((r) => ({
    kind: r.step.kind,
    label: r.step.label,
    outcome: r.outcome,
    ...(r.outcome !== 'done' && r.message ? { message: r.message } : {}),
  }));
  return {
    outcome,
    steps,
    done: count('done'),
    failed: count('failed'),
    skipped: count('skipped'),
  };
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
    const row = familyRow(family, record);
    const table = runsTable(family);
    return sql`, ${sql.raw(`added_${i}`)} AS (
        INSERT INTO ${table} (family, started_at, outcome, steps_done, steps_failed, steps_skipped, duration_ms, steps, error)
        VALUES (${family.name}, ${record.startedAt.toISOString()}::timestamptz, ${row.outcome},
                ${row.done}, ${row.failed}, ${row.skipped},
                ${Math.round(record.durationMs)}, ${JSON.stringify(row.steps)}::jsonb, ${record.error ?? null})
        RETURNING id),
      ${trimmedSql(table, family.name, i)}`;
  });
  return sql`WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS v)${sql.join(parts, sql``)}
    SELECT (SELECT count(*) FROM no_flush_wait)::int AS settings`;
}

/** The trim of a family's rows beyond the newest MAINTENANCE_RUNS_KEPT, as a CTE of a statement that adds one. */
function trimmedSql(table: SQL, family: string, i: number): SQL {
  // The DELETE sees the rows from before the INSERT (one snapshot for the statement): keeping
  // MAINTENANCE_RUNS_KEPT - 1 of them keeps MAINTENANCE_RUNS_KEPT with the new one.
  return sql`${sql.raw(`trimmed_${i}`)} AS (
        DELETE FROM ${table} WHERE family = ${family} AND id <= (
          SELECT id FROM ${table} WHERE family = ${family}
          ORDER BY id DESC OFFSET ${MAINTENANCE_RUNS_KEPT - 1} LIMIT 1)
        RETURNING id)`;
}

function runsTable(family: FamilySpec): SQL {
  return sql`${sql.identifier(family.schema)}.${sql.identifier(MAINTENANCE_RUNS_TABLE)}`;
}

/**
 * The rows of a run that begins its steps: one per family, ids returned as `id_<i>`. Its values
 * are literals: a statement without parameters goes as a simple query, which postgres.js sends
 * along with what follows it; one with parameters it sends unnamed would first ask for their
 * types, holding back the run's first change for a round trip.
 */
export function runningRowsSql(families: readonly FamilySpec[], startedAt: Date): SQL {
  const started = `${textLiteral(startedAt.toISOString())}::timestamptz`;
  const parts = families.map((family, i) => {
    const table = quoteQualified(family.schema, MAINTENANCE_RUNS_TABLE);
    const name = textLiteral(family.name);
    return `, added_${i} AS (
        INSERT INTO ${table} (family, started_at, outcome, steps_done, steps_failed, steps_skipped, duration_ms, steps, pid)
        VALUES (${name}, ${started}, 'running', 0, 0, 0, 0, '[]'::jsonb, pg_backend_pid())
        RETURNING id),
      trimmed_${i} AS (
        DELETE FROM ${table} WHERE family = ${name} AND id <= (
          SELECT id FROM ${table} WHERE family = ${name}
          ORDER BY id DESC OFFSET ${MAINTENANCE_RUNS_KEPT - 1} LIMIT 1)
        RETURNING id)`;
  });
  const ids = families.map((_, i) => `(SELECT id FROM added_${i})::text AS id_${i}`);
  return sql.raw(`WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS v)${parts.join('')}
    SELECT (SELECT count(*) FROM no_flush_wait)::int AS settings, ${ids.join(', ')}`);
}

/**
 * Records that a run begins its steps ('running', with its backend's pid), so that a run cut off
 * by a lost connection or a killed process still shows, as interrupted: the run's end replaces
 * the rows with its outcome (recordMaintenanceRun with `runIds`). Its commit does not wait for
 * the WAL flush either. The ids, by family, in the order given. The table is made first when
 * `tableExists` is false (a schema's first run).
 */
export async function recordRunStart(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  startedAt: Date,
  options: { tableExists: boolean },
): Promise<string[]> {
  if (families.length === 0) return [];
  if (!options.tableExists) await makeRunsTables(db, new Set(families.map((f) => f.schema)));
  // Handed to the driver now (an explicit `then`), ahead of what the caller sends next.
  const [row] = await db
    .execute(runningRowsSql(families, startedAt))
    .then((result) => rowsOf<Record<string, string | null>>(result));
  return families.map((_, i) => String(row?.[`id_${i}`]));
}

/** A 'running' row refused by a table of pgparts 0.1.0 (no pid column, a CHECK without it). */
export function wantsUpgrade(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code === UNDEFINED_COLUMN || code === CHECK_VIOLATION;
}

/**
 * The end of a run begun with recordRunStart: its rows get the outcome, when it finished. Literals
 * only, as for runningRowsSql: a simple query goes out with the lock's release behind it, where
 * a new parameterized text would first wait for its parameter types. Free text (the steps'
 * messages, the error) is dollar-quoted, whatever standard_conforming_strings says.
 */
export function finishRunSql(
  families: readonly FamilySpec[],
  record: RunRecord,
  runIds: readonly string[],
): SQL {
  const parts = families.map((family, i) => {
    const row = familyRow(family, record);
    const id = runIds[i] ?? '';
    if (!/^\d+$/.test(id)) return '';
    const error = record.error === undefined ? 'NULL' : dollarQuoted(record.error);
    return `, finished_${i} AS (
        UPDATE ${quoteQualified(family.schema, MAINTENANCE_RUNS_TABLE)} SET finished_at = now(),
          outcome = ${textLiteral(row.outcome)}, steps_done = ${row.done}, steps_failed = ${row.failed},
          steps_skipped = ${row.skipped}, duration_ms = ${Math.round(record.durationMs)},
          steps = ${dollarQuoted(JSON.stringify(row.steps))}::jsonb, error = ${error}
        WHERE id = ${id}
        RETURNING id)`;
  });
  return sql.raw(`WITH no_flush_wait AS (SELECT set_config('synchronous_commit', 'off', true) AS v)${parts.join('')}
    SELECT (SELECT count(*) FROM no_flush_wait)::int AS settings`);
}

/**
 * Records one maintenance run (recordRunSql): one round trip once the record's table exists.
 * The table is created on first use: before the statement when `tableExists` is false, else
 * when the statement finds it missing (the first run in a schema), and the statement runs again. With `tableExists` (the run's catalog
 * read saw it in every family's schema) the statement is all there is, so what the caller sends
 * behind it (the lock's release) goes out with it and still runs after it. With `upgrade`, the
 * schemas whose table of 0.1.0 it recorded the run in but could not upgrade (the run's role does
 * not own it): the record stands, so that is not a failure to record.
 */
export async function recordMaintenanceRun(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  record: RunRecord,
  options: {
    tableExists?: boolean;
    /** The rows recordRunStart wrote: they get the outcome (one statement, the table exists). */
    runIds?: readonly string[];
    /** recordRunStart was refused by a table of 0.1.0: it is upgraded after the record. */
    upgrade?: boolean;
  } = {},
): Promise<RunsTableNotUpgraded[]> {
  if (families.length === 0) return [];
  if (options.runIds) {
    await db.execute(finishRunSql(families, record, options.runIds));
    return [];
  }
  const statement = recordRunSql(families, record);
  const schemas = new Set(families.map((f) => f.schema));
  if (options.upgrade) {
    await db.execute(statement);
    const notUpgraded: RunsTableNotUpgraded[] = [];
    for (const schema of schemas) {
      try {
        for (const upgrade of maintenanceRunsUpgradeSql(schema)) await db.execute(sql.raw(upgrade));
      } catch (error) {
        notUpgraded.push({ schema, reason: pgErrorMessage(error) });
      }
    }
    return notUpgraded;
  }
  if (options.tableExists) {
    await db.execute(statement);
    return [];
  }
  // Known missing (the run's catalog read did not see it): made first, so the server logs no
  // "relation does not exist" ERROR for a schema's first run, which pages whoever watches for one.
  if (options.tableExists === false) {
    await makeRunsTables(db, schemas);
    await db.execute(statement);
    return [];
  }
  try {
    await db.execute(statement);
    return [];
  } catch (error) {
    if (pgErrorCode(error) !== UNDEFINED_TABLE) throw error;
  }
  await makeRunsTables(db, schemas);
  await db.execute(statement);
  return [];
}

/** The record's table in each of `schemas` (idempotent: IF NOT EXISTS). */
async function makeRunsTables(db: AnyPgDatabase, schemas: Iterable<string>): Promise<void> {
  for (const schema of schemas) {
    for (const setup of maintenanceRunsSetupSql(schema)) await db.execute(sql.raw(setup));
  }
}

/** A schema's table of 0.1.0 that a run was recorded in but could not upgrade, and the server's why. */
export interface RunsTableNotUpgraded {
  schema: string;
  reason: string;
}

/**
 * The warning for a table recordMaintenanceRun could not upgrade: the run is recorded; what the
 * old shape costs; and the statements its owner can run (those the upgrade runs, unguarded).
 */
export function runsTableNotUpgradedWarning({ schema, reason }: RunsTableNotUpgraded): string {
  const statements = maintenanceRunsAlterSql(schema).map((s) => `  ${s};`);
  return [
    `recorded the run, but could not upgrade ${quoteQualified(schema, MAINTENANCE_RUNS_TABLE)} (made by an older pgparts: no pid column, no 'running' outcome): ${reason}.`,
    'Until it is upgraded, a run is recorded only at its end, so one cut off (its connection lost, its process killed) will not show as interrupted.',
    "One run as the table's owner upgrades it, or the owner can run:",
    ...statements,
  ].join('\n');
}
