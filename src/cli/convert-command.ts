import { type Command, Option } from 'commander';
import { counted } from '../define/counted.js';
import { PgpartsError } from '../errors.js';
import {
  type BatchProgress,
  type ConversionTarget,
  convertAbandon,
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
  convertVerify,
  formatVerifyReport,
  pendingAfterSwitch,
  readConversionState,
} from '../ops/convert/index.js';
import type { AnyPgDatabase } from '../run/database.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  MAX_LOCK_TIMEOUT_MS,
  MAX_RETRIES,
} from '../run/lock-timeout.js';
import { confirmOrStop } from './ask.js';
import { connect } from './connection.js';
import { convertTarget } from './convert-target.js';
import { type CliStream, cliIo, cliOut, setCliExitCode } from './io.js';
import { type GlobalOptions, wholeNumber } from './options.js';
import { checkPrivileges } from './preflight.js';
import { refuseOnStandby } from './standby.js';

export const CONVERT_STEPS = [
  'prep',
  'backfill',
  'fill',
  'swap',
  'verify',
  'unswap',
  'cleanup',
  'abandon',
] as const;
type ConvertStep = (typeof CONVERT_STEPS)[number];
/**
 * What --all runs: everything up to a verified swap. Cleanup is never implied; unswap is a
 * rollback; abandon throws the unswapped conversion away.
 */
export const ALL_STEPS: readonly ConvertStep[] = ['prep', 'backfill', 'fill', 'swap', 'verify'];

interface ConvertOptions {
  all?: boolean;
  dryRun?: boolean;
  batchSize: number;
  throttle: number;
  lockTimeout: number;
  retries: number;
  /** Deprecated spellings: --lock-timeout-ms, --attempts (tries in all). */
  lockTimeoutMs?: number;
  attempts?: number;
  samples: number;
  yes?: boolean;
}

/**
 * The steps that drop what cannot be had back: cleanup drops the legacy tables parked since the
 * swap (the way back), abandon the twins and the columns prep added. Each shows its statements
 * and asks first, as retire does, unless --yes.
 */
const DROPPING_STEPS: ReadonlySet<ConvertStep> = new Set(['cleanup', 'abandon']);

/** A one-line progress bar on stderr when it is a terminal; a line per 10% otherwise. */
function progressBar(out: CliStream = cliIo().stderr) {
  let last = '';
  let lastTenth = -1;
  return (p: BatchProgress) => {
    if (p.step === 'replay') {
      // The log grows while it is replayed: no percentage, the rows behind and the rate.
      const line = `replay: ${p.done} changes replayed, ${p.behind ?? 0} behind, ${Math.round(p.ratePerSecond ?? 0)}/s`;
      if (out.isTTY) out.write(`\r\x1b[K  ${line}`);
      else out.write(`  ${line}\n`);
      last = 'replay';
      return;
    }
    const percent = p.total > 0 ? Math.min(100, Math.floor((p.done / p.total) * 100)) : 100;
    const label = `${p.step} ${p.table}`;
    if (out.isTTY) {
      const filled = Math.round(percent / 5);
      out.write(
        `\r\x1b[K  ${label} [${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ${percent}% ${p.done} rows`,
      );
      last = label;
    } else if (label !== last || percent >= lastTenth + 10) {
      lastTenth = label !== last ? -1 : lastTenth;
      last = label;
      if (percent >= lastTenth + 10) lastTenth = percent - (percent % 10);
      out.write(`  ${label}: ${p.done} rows (${percent}%)\n`);
    }
  };
}

/** Runs one step and prints what it did; returns false when verify found differences. */
export async function runConvertStep(
  db: AnyPgDatabase,
  target: ConversionTarget,
  step: ConvertStep,
  o: ConvertOptions,
  print: (line: string) => void = cliOut,
): Promise<boolean> {
  const dryRun = o.dryRun === true;
  const batch = { batchSize: o.batchSize, throttleMs: o.throttle, dryRun };
  const lockTimeoutMs = o.lockTimeoutMs ?? o.lockTimeout;
  const swap = {
    lockTimeoutMs,
    retries: o.attempts !== undefined ? o.attempts - 1 : o.retries,
    batchSize: o.batchSize,
    dryRun,
  };
  const name = target.family.name;
  switch (step) {
    case 'prep': {
      const r = await convertPrep(db, target, { dryRun, lockTimeoutMs });
      print(
        dryRun
          ? r.sql
          : `prep ${name}: ${counted(r.partitionsCreated.length, 'partition')} created` +
              (r.needsBackfill.length > 0
                ? `; backfill needed for ${r.needsBackfill.join(', ')}`
                : ''),
      );
      for (const line of r.beforeSwap) print(`${dryRun ? '-- ' : ''}before swap: ${line}`);
      return true;
    }
    case 'backfill': {
      const r = await convertBackfill(db, target, { ...batch, onProgress: progressBar() });
      print(
        dryRun
          ? r.sql
          : `backfill ${name}: ${counted(r.rowsUpdated, 'row')} updated in ${Math.round(r.elapsedMs)} ms`,
      );
      return true;
    }
    case 'fill': {
      const r = await convertFill(db, target, { ...batch, onProgress: progressBar() });
      print(
        dryRun
          ? r.sql
          : `fill ${name}: ${counted(r.rowsCopied, 'row')} copied, ${counted(r.changesReplayed, 'logged change')} replayed, in ${Math.round(r.elapsedMs)} ms`,
      );
      return true;
    }
    case 'swap':
    case 'unswap': {
      const r =
        step === 'swap'
          ? await convertSwap(db, target, swap)
          : await convertUnswap(db, target, swap);
      print(
        dryRun
          ? r.sql
          : r.resumed
            ? `${step} ${name}: finished the work left after an interrupted switch; refreshed ${r.refreshed.join(', ') || '(none)'}`
            : `${step} ${name}: tables locked for ${r.lockHoldMs.toFixed(1)} ms (attempt ${r.attempts}), ` +
              `${r.replayedUnderLock} changes replayed under the lock; views ${r.views.join(', ') || '(none)'}; refreshed ${r.refreshed.join(', ') || '(none)'}`,
      );
      return true;
    }
    case 'verify': {
      const r = await convertVerify(db, target, { samples: o.samples, dryRun });
      print(dryRun ? r.sql : formatVerifyReport(r));
      return r.ok;
    }
    case 'cleanup': {
      const r = await convertCleanup(db, target, { dryRun });
      print(dryRun ? r.sql : `cleanup ${name}: dropped ${r.dropped.join(', ')}`);
      return true;
    }
    case 'abandon': {
      const r = await convertAbandon(db, target, { dryRun, lockTimeoutMs });
      print(
        dryRun
          ? r.sql
          : `abandon ${name}: dropped ${r.dropped.join(', ')}` +
              (r.droppedColumns.length > 0
                ? `; dropped the columns prep added: ${r.droppedColumns.join(', ')}`
                : '') +
              '; the legacy tables are as they were before prep',
      );
      return true;
    }
  }
}

/**
 * What --all still has to run. Before the swap every step is safe to run again (each carries on
 * where it stopped); once swapped, only the swap's work after its commit (when a crash left
 * some) and verify; after cleanup, nothing.
 */
async function stepsLeft(db: AnyPgDatabase, target: ConversionTarget): Promise<ConvertStep[]> {
  const state = await readConversionState(db, target.family);
  if (state?.step === 'cleaned') return [];
  if (state?.step !== 'swapped') return [...ALL_STEPS];
  return pendingAfterSwitch(state) ? ['swap', 'verify'] : ['verify'];
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description(
      'convert existing unpartitioned tables of a family to the partitioned schema, online: ' +
        `${CONVERT_STEPS.join(', ')} (see docs/conversion.md)`,
    )
    .argument(
      '<family>',
      'the family to convert: leaderboard, killmails, or one the config exports in `conversions`',
    )
    .argument('[step]', `one of ${CONVERT_STEPS.join(', ')}`)
    .option('--all', `run ${ALL_STEPS.join(', ')} in order (never cleanup)`)
    .option('--dry-run', 'print the SQL the step would run, and run nothing')
    .option('--yes', 'cleanup and abandon: drop without asking (they show their SQL and ask first)')
    .option(
      '--batch-size <rows>',
      'rows per batch (backfill, fill, replay)',
      wholeNumber(1),
      10_000,
    )
    .option('--throttle <ms>', 'pause between batches', wholeNumber(0), 0)
    .option(
      '--lock-timeout <ms>',
      `how long one statement may wait for a lock on a live table before it gives up and retries (at most ${MAX_LOCK_TIMEOUT_MS})`,
      wholeNumber(1, MAX_LOCK_TIMEOUT_MS),
      DEFAULT_LOCK_TIMEOUT_MS,
    )
    .option(
      '--retries <n>',
      'tries after the first when the swap or a DDL statement could not get its locks',
      wholeNumber(0, MAX_RETRIES),
      DEFAULT_RETRIES,
    )
    .addOption(
      new Option('--lock-timeout-ms <ms>', 'deprecated: --lock-timeout')
        .argParser(wholeNumber(1, MAX_LOCK_TIMEOUT_MS))
        .hideHelp(),
    )
    .addOption(
      new Option('--attempts <n>', 'deprecated: --retries (tries in all, not after the first)')
        .argParser(wholeNumber(1, MAX_RETRIES + 1))
        .hideHelp(),
    )
    .option(
      '--samples <n>',
      'random rows verify compares, per table and direction',
      wholeNumber(0),
      200,
    )
    .action(async (familyName: string, step: string | undefined, options: ConvertOptions) => {
      if (options.all && step)
        throw new PgpartsError('invalid-input', 'pgparts: convert: give a step or --all, not both');
      if (!options.all && !step) {
        throw new PgpartsError(
          'invalid-input',
          `pgparts: convert: give a step (${CONVERT_STEPS.join(', ')}) or --all`,
        );
      }
      if (step && !(CONVERT_STEPS as readonly string[]).includes(step)) {
        throw new PgpartsError(
          'invalid-input',
          `pgparts: convert: unknown step ${JSON.stringify(step)}; use one of ${CONVERT_STEPS.join(', ')}`,
        );
      }
      if (options.all && options.dryRun) {
        throw new PgpartsError(
          'invalid-input',
          'pgparts: convert --all --dry-run: each step plans from what the previous one did; dry-run the steps one at a time',
        );
      }
      const target = await convertTarget(familyName, program.opts<GlobalOptions>().config);
      const conn = await connect(program.opts<GlobalOptions>());
      try {
        if (!options.dryRun) {
          if (await refuseOnStandby(conn, 'convert')) return;
          await checkPrivileges(conn, 'convert', [target.family]);
        }
        if (!options.dryRun && !options.yes && step && DROPPING_STEPS.has(step as ConvertStep)) {
          // Its dry run first (a refusal comes before any question), then the question.
          cliOut(
            `would ${step} the ${target.family.name} conversion, in this order (nothing is run):`,
          );
          await runConvertStep(conn.db, target, step as ConvertStep, { ...options, dryRun: true });
          if (!(await confirmOrStop(`${step} the ${target.family.name} conversion?`, step))) return;
        }
        const steps = options.all ? await stepsLeft(conn.db, target) : [step as ConvertStep];
        for (const s of steps) {
          const ok = await runConvertStep(conn.db, target, s, options);
          if (!ok) {
            setCliExitCode(1);
            return;
          }
        }
      } finally {
        await conn.close();
      }
    });
}
