import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { CATALOG_READ, inspectInSession } from '../catalog/inspect.js';
import { unsupportedServerReason } from '../catalog/server-version.js';
import type { Snapshot } from '../catalog/snapshot.js';
import { keyId } from '../define/bounds.js';
import { counted } from '../define/counted.js';
import { type FamilySpec, parseFamilies } from '../define/spec.js';
import { isPgpartsError, PgpartsError } from '../errors.js';
import { drainKey } from '../ops/drain/drain.js';
import { ensureOwnership } from '../ops/ownership.js';
import { retireKeyInRun } from '../ops/retention.js';
import { findFamilySnapshot, type Plan, plan, type Step } from '../plan/plan.js';
import {
  type LockKey,
  MAINTENANCE_LOCK_KEY,
  releaseAdvisoryLock,
  tryAdvisoryLock,
} from './advisory-lock.js';
import { checkDatabase } from './check-database.js';
import { runCreateStep } from './create-step.js';
import type { AnyPgDatabase } from './database.js';
import { sendsTogether } from './driver-capabilities.js';
import { afterSent } from './execute.js';
import { isKeyHeldRightNow } from './key-lock.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  isLockConflict,
  lockOptionsSchema,
  outcomeError,
  type RetryOptions,
  retryOnLockTimeout,
} from './lock-timeout.js';
import { checkOptions, functionOption, memorySizeOption, wholeOption } from './options.js';
import { asOperation, isConnectionLoss, pgErrorMessage } from './pg-error.js';
import { pooledSessionError } from './pooled-session.js';
import { preflightPrivileges, sessionFactsFromRow, sessionFactsSql } from './privileges.js';
import {
  recordMaintenanceRun,
  recordRunStart,
  runsTableNotUpgradedWarning,
  wantsUpgrade,
} from './record-run.js';
import { openSessionSending, pgpartsSessionSettings, SESSION_TOKEN } from './session.js';
import { asConnectionRun, runOnSameConnection } from './single-connection-runs.js';
import { readOnlyMessage, standbyMessage } from './standby.js';
import { fillStepStatements } from './step-statements.js';

/**
 * apply: the only place pgparts runs DDL. One run per database at a time (advisory lock); under
 * the lock it inspects, plans and runs each step with a short lock_timeout and bounded retries.
 * Running it again right after leaves nothing to do.
 *
 * Connections: everything runs on one pinned connection (session.ts), never on the pool at
 * large, so the lock and the session's lock_timeout belong to the statements they guard. Each
 * create step is its own short transaction (CREATE ... PARTITION OF and its marker COMMENT
 * commit together or not at all), so ACCESS EXCLUSIVE on a parent is held for one step only;
 * the run as a whole is not one transaction. Drain and retire steps run outside any transaction
 * pgparts opens: their executors choose their own (DETACH ... CONCURRENTLY cannot run in one).
 */

export interface StepContext {
  /** The run's pinned connection: not in a transaction, lock_timeout set for the session. */
  db: AnyPgDatabase;
  /**
   * The database `apply` was given (often a pool), for work that may use other connections
   * (copying batches while the pinned connection holds the maintenance lock). Statements on it
   * do not get the run's lock_timeout: set it where they need it.
   */
  pool: AnyPgDatabase;
  family: FamilySpec;
  lockTimeoutMs: number;
  /** Tries after the first inside the step when it could not get its locks. */
  retries: number;
  /** maintenance_work_mem for a drain's index builds (ApplyOptions.maintenanceWorkMem). */
  maintenanceWorkMem?: string;
  /** Progress inside the step (rows copied, partitions detached...). */
  progress(done: number, total: number | null, unit: string): void;
  /**
   * The statements the step ran, built under its own locks: the result's plan shows these
   * (a retire's are built only when it runs: fillStepStatements `retireBuiltWhenRun`).
   */
  ran(statements: string[]): void;
}

/** Runs one drain or retire step; returns a line for the report (rows moved, lock held...). */
export type StepExecutor = (step: Step, context: StepContext) => Promise<string | undefined>;

export type StepExecutors = Partial<Record<'drain' | 'retire', StepExecutor>>;

/** The drain and retention steps pgparts runs itself; a lock timeout inside them is retried. */
const BUILT_IN_EXECUTORS: StepExecutors = {
  drain: async (step, ctx) => {
    const result = await drainKey(ctx.db, ctx.family, step.key, {
      // Its index builds take a second connection of the app's pool, beside the run's.
      beside: ctx.pool,
      lockTimeoutMs: ctx.lockTimeoutMs,
      retries: ctx.retries,
      maintenanceWorkMem: ctx.maintenanceWorkMem,
      onProgress: (p) => ctx.progress(p.done, p.total, p.phase === 'copy' ? 'pages' : p.phase),
    });
    return `${counted(result.rowsMoved, 'row')} moved in ${Math.round(result.elapsedMs)} ms (${result.strategy ?? 'nothing to move'}), locks held ${Math.round(result.maxLockHoldMs)} ms`;
  },
  retire: async (step, ctx) => {
    // On the run's connection: its settings, privileges preflight and ownership records serve.
    const result = await retireKeyInRun(ctx.db, ctx.family, step.key, {
      mode: step.mode ?? 'drop',
      lockTimeoutMs: ctx.lockTimeoutMs,
      retries: ctx.retries,
      onProgress: (done, total) => ctx.progress(done, total, 'partitions'),
    });
    ctx.ran(result.statements);
    const what = result.mode === 'drop' ? 'dropped' : 'archived';
    return `${counted(result.partitions.length, 'partition')} ${what} (DETACH ${result.detach === 'concurrently' ? 'CONCURRENTLY' : 'plain'}) in ${Math.round(result.elapsedMs)} ms`;
  },
};

export type ApplyEvent =
  | { type: 'lock-acquired'; pid: number | null }
  /** Another run holds the maintenance lock; tried again after `pauseMs` (waitForLockMs). */
  | { type: 'lock-busy'; holderPid: number | null; waitedMs: number; pauseMs: number }
  /**
   * What the run will do. A retire step it will run has no statements here yet: it builds them
   * from what it reads under its key's lock, and the result's plan carries them.
   */
  | { type: 'planned'; plan: Plan }
  | { type: 'step-start'; step: Step; index: number; total: number }
  | { type: 'step-retry'; step: Step; attempt: number; delayMs: number; message: string }
  /** The catalog read (DEFAULT's probes) waited lock_timeout for a lock, and is tried again. */
  | { type: 'read-retry'; attempt: number; delayMs: number; message: string }
  | { type: 'step-progress'; step: Step; done: number; total: number | null; unit: string }
  | { type: 'step-end'; result: StepResult; index: number; total: number };

export interface StepResult {
  step: Step;
  outcome: 'done' | 'skipped' | 'failed';
  /** Why it was skipped or failed; what an executor reported when done. */
  message?: string;
  attempts: number;
  /** Attempts that could not get their locks (lock_timeout 55P03, deadlock 40P01). */
  lockTimeouts: number;
  ms: number;
}

export interface ApplyOptions {
  families: readonly FamilySpec[];
  /** The clock to plan for; default the server's now(). */
  now?: Date;
  /** Run destructive (retire) steps: true, or a predicate approving individual steps. Default false. */
  allowDestructive?: boolean | ((step: Step) => boolean);
  /** lock_timeout for every statement of the run, ms. Default 500 (DEFAULT_LOCK_TIMEOUT_MS). */
  lockTimeoutMs?: number;
  /** Tries after the first when a step could not get its locks (timeout, deadlock). Default 8. */
  retries?: number;
  /** First pause between tries, ms (doubles each time, with jitter). Default 250. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Plan retention steps (default true); destructive ones still need allowDestructive. */
  retention?: boolean;
  /**
   * maintenance_work_mem for the index builds of its drain steps ('256MB'); default the
   * server's setting (see DrainOptions.maintenanceWorkMem).
   */
  maintenanceWorkMem?: string;
  /** The advisory lock key; default MAINTENANCE_LOCK_KEY. */
  lockKey?: LockKey;
  /** Told of each phase; awaited, so a slow callback slows the run. */
  onProgress?: (event: ApplyEvent) => void | Promise<void>;
  /** Replace or supply the drain / retire executors. */
  executors?: StepExecutors;
  /**
   * Record the run in pgparts_maintenance_runs (default true): what `status` shows as the last
   * run and the metrics read as the last success.
   */
  recordRun?: boolean;
  /**
   * How long to wait, in ms, for another run holding the maintenance lock before returning
   * `status: 'locked'` (default 0: at once). The lock is tried again after a pause (50 ms,
   * doubling up to 1 s), each try a run of its own that sends nothing more while locked.
   */
  waitForLockMs?: number;
}

/** ApplyOptions as checked before anything runs (run/options.ts: unknown names refused). */
export const applyOptionsSchema = z
  .object({
    families: z.array(z.unknown()),
    now: z.date({ error: 'expected a valid Date' }).optional(),
    allowDestructive: z
      .union([z.boolean(), functionOption], {
        error: 'expected true, false or a function approving each step',
      })
      .optional(),
    ...lockOptionsSchema.shape,
    backoffMs: wholeOption(0),
    maxBackoffMs: wholeOption(0),
    retention: z.boolean().optional(),
    maintenanceWorkMem: memorySizeOption.optional(),
    lockKey: z.tuple([z.number(), z.number()]).optional(),
    onProgress: functionOption.optional(),
    executors: z
      .object({ drain: functionOption.optional(), retire: functionOption.optional() })
      .strict()
      .optional(),
    recordRun: z.boolean().optional(),
    waitForLockMs: wholeOption(0),
  })
  .strict();

export interface ApplyResult {
  /** 'locked': another run holds the maintenance lock; this one did nothing. */
  status: 'applied' | 'locked';
  /** No step failed (a locked run is ok: the other run does the work). */
  ok: boolean;
  /** The backend pid holding the lock: this run's when applied, the other's when locked. */
  lockHolderPid: number | null;
  /**
   * What was planned under the lock, each step with the statements it ran (a retire's as it built
   * them when it ran); null when locked.
   */
  plan: Plan | null;
  results: StepResult[];
  done: number;
  skipped: number;
  failed: number;
  elapsedMs: number;
  /** Anything that went wrong around the steps (the lock not released, settings not restored). */
  warnings: string[];
}

function failureMessage(
  step: Step,
  error: unknown,
  attempts: number,
  lockTimeoutMs: number,
): string {
  if (isPgpartsError(error, 'lock-timeout')) return error.message.replace(/^pgparts: /, '');
  if (isLockConflict(error)) {
    return (
      `gave up after ${attempts} attempt(s): each waited lock_timeout (${lockTimeoutMs} ms) for a ` +
      `lock on ${step.tables.join(', ')} held by another session (a long query or transaction); ` +
      'nothing was changed for this key: run again later, or raise the lock timeout'
    );
  }
  // An operation's server error (asOperationError): the server's words, as for any other.
  if (isPgpartsError(error, 'query-failed'))
    return `${pgErrorMessage(error.cause)}${error.hint ? `; ${error.hint}` : ''}`;
  return pgErrorMessage(error);
}

/**
 * Brings the database to what `families` declare: takes the maintenance lock (or returns
 * `status: 'locked'` at once, doing nothing, when another run holds it), inspects, plans, and
 * runs the plan. Validates the specs before any SQL. Step failures are reported in the result,
 * not thrown; the steps of other keys still run. Errors of the connection itself are thrown.
 */
export function apply(db: AnyPgDatabase, options: ApplyOptions): Promise<ApplyResult> {
  return applyAs('apply', db, options);
}

/**
 * apply, its options checked under the name the caller was called by (`maintain` too). The
 * schema covers every option's type and bounds (lock options, backoff, `now` a valid date).
 */
export function applyAs(
  operation: 'apply' | 'maintain',
  db: AnyPgDatabase,
  options: ApplyOptions,
): Promise<ApplyResult> {
  // A server error outside the steps (pgparts's own records, the catalog read) is thrown as a
  // `query-failed` PgpartsError, the server's as its cause: what the API throws has a code.
  return asOperation(operation, () => runApplyWaiting(operation, db, options));
}

/** runApply, tried again while another run holds the lock, until waitForLockMs has passed. */
async function runApplyWaiting(
  operation: 'apply' | 'maintain',
  db: AnyPgDatabase,
  options: ApplyOptions,
): Promise<ApplyResult> {
  const started = performance.now();
  for (let pause = 50; ; pause = Math.min(pause * 2, 1_000)) {
    const result = await runApply(operation, db, options);
    const waitedMs = performance.now() - started;
    const left = (options.waitForLockMs ?? 0) - waitedMs;
    if (result.status !== 'locked' || left <= 0) return { ...result, elapsedMs: waitedMs };
    const pauseMs = Math.min(pause, left);
    await options.onProgress?.({
      type: 'lock-busy',
      holderPid: result.lockHolderPid,
      waitedMs,
      pauseMs,
    });
    await new Promise((done) => setTimeout(done, pauseMs));
  }
}

async function runApply(
  operation: 'apply' | 'maintain',
  db: AnyPgDatabase,
  options: ApplyOptions,
): Promise<ApplyResult> {
  checkOptions(operation, applyOptionsSchema, options);
  checkDatabase(operation, db);
  const running = runOnSameConnection(db);
  if (running) {
    return {
      ...nothingDone('locked', running.holderPid, 0),
      warnings: [
        `another ${operation === 'apply' ? 'apply' : 'maintenance'} run of this process is using this database's one connection (a node-postgres Client, PGlite); this one did nothing`,
      ],
    };
  }
  return asConnectionRun(db, (record) => runApplyHoldingConnection(operation, db, options, record));
}

/** The result of a run that did nothing (another run held the lock). */
function nothingDone(
  status: 'locked',
  lockHolderPid: number | null,
  elapsedMs: number,
): Omit<ApplyResult, 'warnings'> {
  return {
    status,
    ok: true,
    lockHolderPid,
    plan: null,
    results: [],
    done: 0,
    skipped: 0,
    failed: 0,
    elapsedMs,
  };
}

async function runApplyHoldingConnection(
  operation: 'apply' | 'maintain',
  db: AnyPgDatabase,
  options: ApplyOptions,
  connectionRun: { holderPid: number | null },
): Promise<ApplyResult> {
  const started = performance.now();
  const startedAt = new Date();
  const families = parseFamilies(options.families);
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const retries = options.retries ?? DEFAULT_RETRIES;
  const executors: StepExecutors = { ...BUILT_IN_EXECUTORS, ...options.executors };
  const emit = async (event: ApplyEvent) => {
    await options.onProgress?.(event);
  };
  const warnings: string[] = [];
  const key = options.lockKey ?? MAINTENANCE_LOCK_KEY;

  const retry: RetryOptions = {
    retries,
    ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
    ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
  };

  // lock_timeout is one of the session settings: set here, restored at release.
  // The token marks the server session the settings go to: the lock is taken only there.
  const token = randomUUID();
  const session = await openSessionSending(db, {
    settings: pgpartsSessionSettings(lockTimeoutMs),
    token,
  });
  const sameSession = { setting: SESSION_TOKEN, token };
  // Sent right behind the settings, one round trip for all three: the lock attempt (with who is
  // connected), and the catalog read. That read's first batch locks no table; what it reads of
  // the tables (DEFAULT's probes) counts only once this run holds the lock and passed its checks
  // (the run before's second batch goes out with the first, inspect.ts says why). It runs
  // outside any transaction (inspectInSession), so there is no COMMIT to wait for either.
  // Drivers that run one query at a time (sendsTogether) take these one after the other.
  const together = sendsTogether(session.db);
  let decide: (go: boolean) => void = () => {};
  const proceed = new Promise<boolean>((resolve) => {
    decide = resolve;
  });
  const attempt = together
    ? tryAdvisoryLock(session.db, key, sessionFactsSql(), sameSession)
    : session.ready.then(() => tryAdvisoryLock(session.db, key, sessionFactsSql(), sameSession));
  attempt.catch(() => {}); // awaited below
  // DEFAULT is probed for the keys of the clock the plan is made for. Started later (once the
  // lock is held and `proceed` is true) where statements are not sent together.
  // Its retries are told (read-retry): a lock another session holds on a DEFAULT can keep
  // them going for as long as it is held, before any step starts.
  const read = () =>
    retryOnLockTimeout(
      () => inspectInSession(session.db, families, { lockTimeoutMs, now: options.now, proceed }),
      {
        ...retry,
        onRetry: (attempt, delayMs, error) =>
          emit({ type: 'read-retry', attempt, delayMs, message: pgErrorMessage(error) }),
      },
    );
  const readAhead = together ? read() : null;
  /** Stops the read sent ahead and waits for it to end (its settings put back). */
  const stopReading = async () => {
    decide(false);
    await readAhead;
  };
  let unlocking: Promise<unknown> = Promise.resolve();
  try {
    let lock: Awaited<typeof attempt>;
    try {
      await session.ready;
      lock = await attempt;
    } catch (error) {
      await stopReading();
      // The settings failed (the lock attempt behind them still ran): a lock it took goes back
      // before the connection does.
      const taken = await attempt.catch(() => null);
      if (taken?.acquired) await releaseAdvisoryLock(session.db, key).catch(() => {});
      throw error;
    }
    // One server session for the whole run (pooled-session.ts): the settings and the lock
    // attempt, sent one after the other, ran in the same one, which did not hold the lock yet.
    const settingsPid = await session.backendPid;
    const lockPid = Number(lock.row.pid);
    const hopped = lock.elsewhere === true;
    if (hopped || lock.heldHere) {
      await stopReading();
      throw pooledSessionError(
        'apply',
        hopped
          ? `its settings ran in server session ${settingsPid} and its lock attempt, sent right after them, in ${lockPid}`
          : `the server session it reached (${lockPid}) already held the maintenance lock: a client before it on that session took it`,
      );
    }
    const base = { lockHolderPid: lock.holderPid, warnings };
    if (!lock.acquired) {
      await stopReading();
      return { ...nothingDone('locked', lock.holderPid, performance.now() - started), warnings };
    }
    connectionRun.holderPid = lock.holderPid;
    let results: StepResult[] = [];
    let planned: Plan | null = null;
    let snapshot: Snapshot | null = null;
    /** inspect's settings put back: sent after its last read, awaited before the first change. */
    let settingsBack: Promise<void> = Promise.resolve();
    let runError: unknown;
    const recordRun = options.recordRun ?? true;
    /** The run's 'running' rows (recordRunStart), written before its first change; null: none. */
    let runRows: Promise<string[] | null> = Promise.resolve(null);
    /** The 'running' rows were refused by a table of 0.1.0: upgraded once the run is recorded. */
    let upgradeRunsTable = false;
    try {
      try {
        await emit({ type: 'lock-acquired', pid: lock.holderPid });
        // The server's version, not a standby, and the grants it needs (read with the lock),
        // before its first change (the ownership records below).
        const facts = sessionFactsFromRow(lock.row);
        const unsupported = unsupportedServerReason(facts.version);
        if (unsupported) throw new PgpartsError('unsupported-server', unsupported);
        if (facts.standby) {
          throw new PgpartsError('unsupported-server', standbyMessage('apply'), { step: 'apply' });
        }
        // default_transaction_read_only on a primary: its first write would fail part-way.
        if (facts.readOnly) {
          throw new PgpartsError('unsupported-server', readOnlyMessage(operation), {
            step: operation,
          });
        }
        await preflightPrivileges(session.db, 'apply', families, { facts });
      } catch (error) {
        await stopReading();
        throw error;
      }
      decide(true);
      const catalog = await (readAhead ?? read());
      if (!catalog.value) {
        throw outcomeError(catalog, CATALOG_READ, lockTimeoutMs);
      }
      snapshot = catalog.value.snapshot;
      settingsBack = catalog.value.restored;
      // Drain and retire steps get their statements too: what a dry run printed, run now.
      planned = await fillStepStatements(
        session.db,
        families,
        plan(families, snapshot, options.now ?? snapshot.takenAt, {
          retention: options.retention ?? true,
        }),
        snapshot,
        {
          lockTimeoutMs,
          maintenanceWorkMem: options.maintenanceWorkMem,
          // A retire that will run builds its statements under its key's lock (StepContext.ran).
          retireBuiltWhenRun: (step) =>
            isAllowed(step, options.allowDestructive ?? false) && !options.executors?.retire,
        },
      );
      await emit({ type: 'planned', plan: planned });
      const steps = planned;
      const taken = snapshot;
      // inspect's settings go back ahead of the first change, and its first statement goes out
      // with them (afterSent: should they have failed, that is the error thrown).
      // (With nothing to do, they go back with the run's record instead.)
      if (steps.steps.length > 0)
        [, results] = await afterSent(settingsBack, async () => {
          // The run is recorded as running before its first change, so that one cut off (its
          // connection lost, its process killed) still shows, as interrupted. When the table
          // exists the row goes out with the first change (beforeChange: in the same burst of
          // sends, no wait of its own), awaited only at the end; its failure only costs the
          // record. A schema's first run makes the table first. A no-op run writes no such row.
          let beforeChange = () => {};
          if (recordRun) {
            const tableExists = families.every(
              (f) => findFamilySnapshot(taken, f)?.runRecordsTable === true,
            );
            let begun = false;
            const begin = () => {
              if (begun) return;
              begun = true;
              runRows = recordRunStart(session.db, families, startedAt, { tableExists }).catch(
                (error: unknown) => {
                  if (wantsUpgrade(error)) upgradeRunsTable = true;
                  else
                    warnings.push(`could not record the run as running: ${pgErrorMessage(error)}`);
                  return null;
                },
              );
            };
            if (tableExists) beforeChange = begin;
            else {
              begin();
              await runRows;
            }
          }
          // pgparts's ownership records (carried over once per family) before its first change;
          // a run with nothing to do, or refused by the plan, writes nothing, and neither does one
          // whose read found the family carried over already (with records keyed by regclass).
          for (const family of families) {
            const found = findFamilySnapshot(taken, family);
            const ready = found?.ownershipRecorded === true && found.ownershipKeyedByOid !== true;
            if (steps.steps.some((s) => s.family === family.name) && !ready) {
              beforeChange();
              await ensureOwnership(session.db, family);
            }
          }
          return runSteps(steps, {
            db: session.db,
            pool: db,
            families,
            executors,
            lockTimeoutMs,
            retries,
            maintenanceWorkMem: options.maintenanceWorkMem,
            retry,
            allowDestructive: options.allowDestructive ?? false,
            emit,
            beforeChange,
          });
        });
    } catch (error) {
      runError = error;
      throw error;
    } finally {
      // Only a run that got as far as a plan is recorded: one refused before it (specs that do
      // not match the database, a standby) writes nothing, and its staleness shows in
      // seconds-since-last-success instead.
      if (recordRun && planned) {
        // Under the lock, so records of concurrent runs cannot interleave: sent before the lock's
        // release, and, when the record's table is known to exist, with it in one round trip.
        // The 'running' rows' statement was answered long before (with the first change).
        const runIds = await runRows;
        const tableExists =
          runIds !== null ||
          families.every(
            (f) => (snapshot && findFamilySnapshot(snapshot, f)?.runRecordsTable) === true,
          );
        const recording = recordMaintenanceRun(
          session.db,
          families,
          {
            startedAt,
            durationMs: performance.now() - started,
            results,
            ...(runError !== undefined ? { error: pgErrorMessage(runError) } : {}),
          },
          {
            tableExists,
            ...(runIds ? { runIds } : {}),
            ...(upgradeRunsTable ? { upgrade: true } : {}),
          },
        ).then(
          // Recorded; a table of 0.1.0 its role may not upgrade gets a warning of its own.
          (notUpgraded) => {
            for (const table of notUpgraded) warnings.push(runsTableNotUpgradedWarning(table));
          },
          (error: unknown) => {
            warnings.push(`could not record the run: ${pgErrorMessage(error)}`);
          },
        );
        if (tableExists && !upgradeRunsTable && together) unlocking = recording;
        else await recording;
      }
      // Sent now and awaited with the session's release below, whose settings restore goes out
      // right behind it: one round trip for both.
      const released = releaseAdvisoryLock(session.db, key).then(
        (released) => {
          if (!released) {
            warnings.push(
              `the maintenance lock was not held by this connection at the end (pid ${lock.holderPid})`,
            );
          }
        },
        (error: unknown) => {
          warnings.push(`could not release the maintenance lock: ${pgErrorMessage(error)}`);
        },
      );
      unlocking = Promise.all([
        settingsBack.catch((error: unknown) => {
          warnings.push(`could not put the catalog read's settings back: ${pgErrorMessage(error)}`);
        }),
        unlocking,
        released,
      ]);
    }
    const count = (outcome: StepResult['outcome']) =>
      results.filter((r) => r.outcome === outcome).length;
    // The plan as run: a step's statements as its executor built them (a retire's).
    const ranSteps = new Map(results.map((r) => [r.step.id, r.step]));
    const asRun = planned && {
      ...planned,
      steps: planned.steps.map((step) => ranSteps.get(step.id) ?? step),
    };
    return {
      ...base,
      status: 'applied',
      ok: count('failed') === 0,
      plan: asRun,
      results,
      done: count('done'),
      skipped: count('skipped'),
      failed: count('failed'),
      elapsedMs: performance.now() - started,
    };
  } finally {
    if (together) await Promise.all([unlocking, session.release()]);
    else {
      await unlocking;
      await session.release();
    }
  }
}

interface RunContext {
  db: AnyPgDatabase;
  pool: AnyPgDatabase;
  families: FamilySpec[];
  executors: StepExecutors;
  lockTimeoutMs: number;
  retries: number;
  maintenanceWorkMem: string | undefined;
  retry: RetryOptions;
  allowDestructive: boolean | ((step: Step) => boolean);
  emit(event: ApplyEvent): Promise<void>;
  /** Called right before a step runs, in the same tick as its first statement is sent. */
  beforeChange(): void;
}

/**
 * Runs a step's statements one by one on the run's connection, outside any transaction (its
 * session lock_timeout applies): DETACH ... FINALIZE waits for older snapshots like the detach
 * it completes.
 */
async function runOutsideTransaction(step: Step, ctx: RunContext): Promise<undefined> {
  for (const statement of step.sql) await ctx.db.execute(sql.raw(statement));
  return undefined;
}

/** Whether a step may run: destructive ones only as allowDestructive says. */
function isAllowed(step: Step, allowDestructive: boolean | ((step: Step) => boolean)): boolean {
  return (
    !step.destructive ||
    (typeof allowDestructive === 'function' ? allowDestructive(step) : allowDestructive)
  );
}

async function runSteps(planned: Plan, ctx: RunContext): Promise<StepResult[]> {
  const results: StepResult[] = [];
  /** family|key of keys whose earlier step failed: their later steps are skipped. */
  const failedKeys = new Set<string>();
  const total = planned.steps.length;
  for (const [index, step] of planned.steps.entries()) {
    await ctx.emit({ type: 'step-start', step, index, total });
    const started = performance.now();
    const keyRef = `${step.family}|${keyId(step.key)}`;
    const family = ctx.families.find((f) => f.name === step.family);
    const executor =
      step.kind === 'drain' || step.kind === 'retire' ? ctx.executors[step.kind] : undefined;
    const allowed = isAllowed(step, ctx.allowDestructive);
    /** What the executor says it ran (StepContext.ran): the step's statements in the result. */
    let ran: string[] | undefined;
    let result: StepResult;
    const skip = (message: string): StepResult => ({
      step,
      outcome: 'skipped',
      message,
      attempts: 0,
      lockTimeouts: 0,
      ms: 0,
    });
    if (failedKeys.has(keyRef)) {
      result = skip(`an earlier step for ${step.label} failed`);
    } else if (!allowed) {
      result = skip('destructive: needs --yes (allowDestructive) to run');
    } else if ((step.kind === 'drain' || step.kind === 'retire') && !executor) {
      result = skip(`${step.kind} not available in this version of pgparts`);
    } else if (!family) {
      result = skip(`family ${step.family} is not among the families given`);
    } else {
      ctx.beforeChange();
      const outcome = await retryOnLockTimeout<string | undefined>(
        () =>
          executor
            ? executor(step, {
                db: ctx.db,
                family,
                lockTimeoutMs: ctx.lockTimeoutMs,
                retries: ctx.retries,
                maintenanceWorkMem: ctx.maintenanceWorkMem,
                pool: ctx.pool,
                progress: (done, of, unit) => {
                  // A failing progress callback must not fail the step or go unhandled.
                  ctx.emit({ type: 'step-progress', step, done, total: of, unit }).catch(() => {});
                },
                ran: (statements) => {
                  ran = statements;
                },
              })
            : step.kind === 'finalize-detach'
              ? runOutsideTransaction(step, ctx)
              : runCreateStep(ctx.db, step, ctx.lockTimeoutMs),
        {
          ...ctx.retry,
          onRetry: (attempt, delayMs, error) =>
            ctx.emit({
              type: 'step-retry',
              step,
              attempt,
              delayMs,
              message: pgErrorMessage(error),
            }),
        },
      );
      const failed = 'error' in outcome && outcome.error !== undefined;
      if (failed && isConnectionLoss(outcome.error)) {
        // Nothing more can run on this connection, and what the step did is unknown until the
        // next run reads the catalog: the run stops here and says so.
        throw new PgpartsError(
          'connection',
          `the connection to the database was lost during step ${index + 1} of ${total} ` +
            `(${step.id}): ${pgErrorMessage(outcome.error)}; run apply again to finish`,
          { step: step.id, cause: outcome.error },
        );
      }
      // Another session is doing this key's work right now (a `pgparts drain` started with the
      // run): left to it, as the plan leaves a key whose operation it saw running; the next run
      // finds it done or takes it up. Not a failure cron should be woken for.
      const leftToOther = failed && isKeyHeldRightNow(outcome.error);
      result = {
        step: ran ? { ...step, sql: ran } : step,
        outcome: leftToOther ? 'skipped' : failed ? 'failed' : 'done',
        attempts: outcome.attempts,
        lockTimeouts: outcome.lockTimeouts.length,
        ms: performance.now() - started,
      };
      const message = leftToOther
        ? (outcome.error as Error).message.replace(/^pgparts: /, '')
        : failed
          ? failureMessage(step, outcome.error, outcome.attempts, ctx.lockTimeoutMs)
          : outcome.value;
      if (message) result.message = message;
      if (failed) failedKeys.add(keyRef);
    }
    results.push(result);
    await ctx.emit({ type: 'step-end', result, index, total });
  }
  return results;
}
