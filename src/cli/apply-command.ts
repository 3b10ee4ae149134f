import type { Command } from 'commander';
import { inspect } from '../catalog/inspect.js';
import { plan, type Step } from '../plan/plan.js';
import { apply } from '../run/apply.js';
import { askYesNo } from './ask.js';
import { loadFamilies } from './config.js';
import { connect } from './connection.js';
import { formatPlan, formatStep, formatSummary, toJson } from './format.js';
import { cliErr, cliIo, cliOut, setCliExitCode } from './io.js';
import {
  addBuildMemoryOption,
  addLockOptions,
  type GlobalOptions,
  lockKeyArgument,
  wholeNumber,
} from './options.js';
import { readPlan } from './plan-command.js';
import { checkPrivileges } from './preflight.js';
import { catalogRead, progressPrinter } from './progress.js';
import { refuseOnStandby } from './standby.js';

interface ApplyCommandOptions {
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  lockKey?: [number, number];
  lockTimeout: number;
  retries: number;
  maintenanceWorkMem?: string;
  waitForLock: number;
}

/** Asks on the terminal whether to run the destructive steps; false when there is no terminal. */
async function confirm(steps: Step[], say: (line: string) => void): Promise<boolean> {
  if (!process.stdin.isTTY || !cliIo().stdout.isTTY) return false;
  say('These steps drop or detach partitions:');
  steps.forEach((step, i) => {
    say(formatStep(step, i).join('\n'));
  });
  return askYesNo(`Run these ${steps.length} destructive step(s)?`);
}

export function registerApply(program: Command): void {
  addBuildMemoryOption(addLockOptions(program.command('apply')))
    .description(
      'run the plan: create missing partitions, drain DEFAULT, retention; one run per database ' +
        'at a time, each step under a short lock_timeout with retries',
    )
    .option('--dry-run', 'print the exact SQL that would run, and run nothing')
    .option('--yes', 'run destructive steps (drops, detaches) without asking')
    .option(
      '--json',
      'print the result (with --dry-run: the plan) as JSON on stdout; progress goes to stderr',
    )
    .option(
      '--lock-key <classid,objid>',
      "the maintenance lock's advisory key (default 1885826145,1920234240): apps that share a " +
        "database and keep disjoint families each give their own, so that one's runs do not " +
        "leave the other's locked out",
      lockKeyArgument,
    )
    .option(
      '--wait-for-lock <s>',
      'when another run holds the maintenance lock, wait up to this many seconds for it (trying ' +
        'again at most every second), then run; 0 (the default) ends at once, saying so',
      wholeNumber(0, 86_400),
      0,
    )
    .action(async (options: ApplyCommandOptions) => {
      const global = program.opts<GlobalOptions>();
      const families = await loadFamilies(global.config);
      const conn = await connect(global);
      // With --json, stdout holds the JSON only: what is said along the way goes to stderr.
      const say = (line: string) => (options.json ? cliErr(line) : cliOut(line));
      const progressOut = options.json ? cliIo().stderr : cliIo().stdout;
      try {
        if (options.dryRun) {
          const planned = await readPlan(conn, 'apply --dry-run', families, options);
          if (options.json) {
            cliOut(toJson({ database: conn.label, dryRun: true, ...planned }));
            return;
          }
          const heading = `pgparts apply --dry-run for ${conn.label} at ${planned.now.toISOString()} (nothing is run)`;
          cliOut(formatPlan(planned, heading).join('\n'));
          return;
        }
        if (await refuseOnStandby(conn, 'apply')) return;
        let allowDestructive: boolean | ((step: Step) => boolean) = options.yes === true;
        if (!options.yes) {
          // A role that cannot run apply is told so before it is asked anything (apply checks
          // again under its lock).
          await checkPrivileges(conn, 'apply', families);
          // Ask about the destructive steps planned now; apply replans under its lock and runs
          // only those approved here (by step id), never one that appeared since.
          // Its retries go with apply's own, on stdout.
          const snapshot = await inspect(conn.db, families, catalogRead(options, progressOut));
          const destructive = plan(families, snapshot, snapshot.takenAt).steps.filter(
            (s) => s.destructive,
          );
          if (destructive.length > 0) {
            const approved = (await confirm(destructive, say))
              ? new Set(destructive.map((s) => s.id))
              : new Set<string>();
            if (approved.size === 0) {
              say(
                `${destructive.length} destructive step(s) will be skipped (pass --yes to run them)`,
              );
            }
            allowDestructive = (step) => approved.has(step.id);
          }
        }
        say(`pgparts apply on ${conn.label}`);
        const result = await apply(conn.db, {
          families,
          allowDestructive,
          lockTimeoutMs: options.lockTimeout,
          retries: options.retries,
          maintenanceWorkMem: options.maintenanceWorkMem,
          ...(options.lockKey ? { lockKey: options.lockKey } : {}),
          waitForLockMs: options.waitForLock * 1000,
          onProgress: progressPrinter(progressOut),
        });
        if (options.json) cliOut(toJson({ database: conn.label, ...result }));
        else cliOut(formatSummary(result).join('\n'));
        if (!result.ok) setCliExitCode(1);
      } finally {
        await conn.close();
      }
    });
}
