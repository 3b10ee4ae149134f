import { z } from 'zod';
import { type CatalogReadOptions, inspect } from '../catalog/inspect.js';
import type { Snapshot } from '../catalog/snapshot.js';
import { DEFAULT_ARCHIVE_SCHEMA, type FamilySpec, parseFamilies } from '../define/spec.js';
import { isPgpartsError } from '../errors.js';
import { drainPreviewSql, previewDrain } from '../ops/drain/drain.js';
import { previewRetire, retirePreviewSql } from '../ops/retention.js';
import { findFamilySnapshot, type Plan, plan, type Step } from '../plan/plan.js';
import { checkDatabase } from './check-database.js';
import type { AnyPgDatabase } from './database.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from './lock-timeout.js';
import { checkOptions, memorySizeOption } from './options.js';
import { isConnectionLoss, pgErrorMessage } from './pg-error.js';

/**
 * The statements of drain and retire steps. The planner sees only the snapshot, which does not
 * hold what these operations build from (columns, primary and foreign keys, staging tables,
 * which partitions a retire finds); so once the plan is made, the facts of each such step are
 * read and the step's statements built by the same functions drainKey and retireKey build
 * theirs with. A copy or replay batch depends on what the copy finds: it is a template (a
 * leading comment says so; «...» marks what is filled in).
 */

export interface StepStatementOptions {
  /** The lock_timeout the run will use: the drain's final phase writes it into its statements. */
  lockTimeoutMs?: number;
  /** The memory a drain's index builds will be given (ApplyOptions.maintenanceWorkMem). */
  maintenanceWorkMem?: string;
  /**
   * Retire steps for which this is true keep no statements here: apply's, which it will run.
   * Their retire reads the same facts again under the key's lock before its first change, and
   * builds its statements from that read; apply puts those in its result. Reading them here too
   * cost a round trip of every retention run.
   */
  retireBuiltWhenRun?: (step: Step) => boolean;
}

/** A step the operation would refuse: its statements say why instead. */
function refusal(step: Step, error: unknown): string[] {
  const why = pgErrorMessage(error).replace(/\n/g, '\n-- ');
  return [`-- ${step.kind} would refuse: ${why}`];
}

async function statementsOf(
  db: AnyPgDatabase,
  family: FamilySpec,
  step: Step,
  snapshot: Snapshot,
  options: StepStatementOptions,
): Promise<string[]> {
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  try {
    if (step.kind === 'drain') {
      const drainOptions = { lockTimeoutMs, maintenanceWorkMem: options.maintenanceWorkMem };
      const { preview } = await previewDrain(db, family, step.key, drainOptions);
      return drainPreviewSql(family, preview, drainOptions);
    }
    const found = findFamilySnapshot(snapshot, family);
    const resuming =
      found?.unfinished.operations.some(
        (op) => op.operation === 'retire' && op.key === step.label,
      ) ?? false;
    const preview = await previewRetire(db, family, step.key, {
      mode: step.mode ?? 'drop',
      archiveSchema: family.retention?.archiveSchema ?? DEFAULT_ARCHIVE_SCHEMA,
      resuming,
      // The family's ownership carried over: its record's table exists (the batch proves it).
      ownedTableExists: found?.ownershipRecorded === true,
      // Not carried over yet: apply does it (ensureOwnership, which makes the retired keys'
      // table and records the partitions it adopts) before its first step.
      retiredKeysTableMadeFirst: found?.ownershipRecorded !== true,
      carriesOverFirst: found?.ownershipRecorded !== true,
    });
    return retirePreviewSql(preview);
  } catch (error) {
    if (isPgpartsError(error)) return refusal(step, error);
    // The step itself meets the same error when it runs, and reports it as its failure.
    if (!isConnectionLoss(error))
      return [`-- could not read what ${step.kind} needs: ${pgErrorMessage(error)}`];
    throw error;
  }
}

/** The step options a caller gives, checked as apply checks them (other keys are the caller's). */
const stepStatementOptionsSchema = z
  .object({ maintenanceWorkMem: memorySizeOption.optional() })
  .loose();

/** `planned` with the statements of its drain and retire steps filled in (read, then built). */
export async function withStepStatements(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  planned: Plan,
  snapshot: Snapshot,
  options: StepStatementOptions = {},
): Promise<Plan> {
  checkOptions('plan', stepStatementOptionsSchema, options);
  checkDatabase('plan', db);
  return fillStepStatements(db, families, planned, snapshot, options);
}

/**
 * withStepStatements for options checked already: apply's (its own schema) and planStatements's
 * (before its catalog read).
 */
export async function fillStepStatements(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  planned: Plan,
  snapshot: Snapshot,
  options: StepStatementOptions,
): Promise<Plan> {
  const steps: Step[] = [];
  for (const step of planned.steps) {
    const family = families.find((f) => f.name === step.family);
    if (step.kind === 'retire' && options.retireBuiltWhenRun?.(step)) {
      steps.push(step);
    } else if ((step.kind === 'drain' || step.kind === 'retire') && family) {
      steps.push({ ...step, sql: await statementsOf(db, family, step, snapshot, options) });
    } else {
      steps.push(step);
    }
  }
  return { ...planned, steps };
}

export interface PlanStatementsOptions extends StepStatementOptions, CatalogReadOptions {
  /** The clock to plan for; default the server's now(). */
  now?: Date;
  /** Plan retention (retire) steps. Default true. */
  retention?: boolean;
}

/**
 * What `pgparts plan` and `apply --dry-run` print: inspect, plan, and every step's statements.
 * Runs nothing but reads.
 */
export async function planStatements(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: PlanStatementsOptions = {},
): Promise<Plan> {
  checkOptions('plan', stepStatementOptionsSchema, options);
  checkDatabase('plan', db);
  const specs = parseFamilies(families);
  const snapshot = await inspect(db, specs, options);
  const planned = plan(specs, snapshot, options.now ?? snapshot.takenAt, {
    retention: options.retention ?? true,
  });
  return fillStepStatements(db, specs, planned, snapshot, options);
}
