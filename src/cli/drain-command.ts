import { type Command, Option } from 'commander';
import { shellWord } from '../define/command-words.js';
import { counted } from '../define/counted.js';
import { keyLabel } from '../define/partition-key.js';
import { abandonDrain } from '../ops/drain/abandon.js';
import { drainDryRun, drainKey } from '../ops/drain/drain.js';
import { COPY_BATCH_PAGES } from '../ops/drain/statements.js';
import { asReader } from '../run/read-privileges.js';
import { loadFamilies } from './config.js';
import { connect } from './connection.js';
import { formatMs, formatStatements, toJson } from './format.js';
import { cliIo, cliOut } from './io.js';
import { resolveKey, TABLE_ARGUMENT_HELP } from './key-argument.js';
import {
  acceptYes,
  addBuildMemoryOption,
  addLockOptions,
  type GlobalOptions,
  wholeNumber,
} from './options.js';
import { checkPrivileges } from './preflight.js';
import { readRetryPrinter } from './progress.js';
import { refuseOnStandby } from './standby.js';

interface DrainCommandOptions {
  strategy: 'auto' | 'swap' | 'delete';
  batchPages: number;
  throttle: number;
  sideBySide: boolean;
  maintenanceWorkMem?: string;
  lockTimeout: number;
  retries: number;
  json?: boolean;
  dryRun?: boolean;
  abandon?: boolean;
}

export function registerDrain(program: Command): void {
  acceptYes(addBuildMemoryOption(addLockOptions(program.command('drain'))))
    .description(
      "move one key's rows out of DEFAULT into its own partitions, in every table of the family: " +
        'online copy, then one short final transaction (apply does this by itself when needed)',
    )
    .argument('<table>', TABLE_ARGUMENT_HELP)
    .argument(
      '<key>',
      'the LIST value (14), or a date in the RANGE interval (2025-06; a week also 2025-w23; or as status prints it, 2025-06-01..2025-07-01)',
    )
    .addOption(
      new Option(
        '--strategy <how>',
        'final phase: swap in a rebuilt DEFAULT (milliseconds of locks; PostgreSQL 18 for ' +
          'families with foreign keys) or delete the rows from DEFAULT (as long as the rows moved); ' +
          'auto swaps whenever it can',
      )
        .choices(['auto', 'swap', 'delete'])
        .default('auto'),
    )
    .option(
      '--batch-pages <n>',
      'DEFAULT pages (8 kB) copied per batch',
      wholeNumber(1),
      COPY_BATCH_PAGES,
    )
    .option('--throttle <ms>', 'pause between batches', wholeNumber(0), 0)
    .option(
      '--no-side-by-side',
      "keep the drain on one connection (by default, where the pool has a second one free, the copy runs two batches at a time and a table's index builds two at a time)",
    )
    .option('--json', 'print the result as JSON')
    .option(
      '--dry-run',
      'print the exact SQL the drain would run (batches as templates); run nothing',
    )
    .option(
      '--abandon',
      "give up an interrupted drain of the key (one that fails on every run): drop its tables and DEFAULT's capture triggers; every row stays in DEFAULT (with --dry-run: print what it would run)",
    )
    .action(async (table: string, keyText: string, options: DrainCommandOptions) => {
      const global = program.opts<GlobalOptions>();
      const { family, key } = resolveKey(await loadFamilies(global.config), table, keyText);
      const conn = await connect(global);
      const tty = cliIo().stdout.isTTY === true && !options.json;
      try {
        if (options.abandon) {
          if (!options.dryRun && (await refuseOnStandby(conn, 'drain'))) return;
          const result = await abandonDrain(conn.db, family, key, {
            dryRun: options.dryRun === true,
            lockTimeoutMs: options.lockTimeout,
            retries: options.retries,
          });
          if (options.json) {
            cliOut(toJson(result));
            return;
          }
          const what = `${family.name} ${keyLabel(key)}`;
          if (result.status === 'nothing-to-do') {
            cliOut(`${what}: no drain of the key was left; nothing to abandon`);
            return;
          }
          if (options.dryRun) {
            cliOut(`pgparts drain --abandon --dry-run ${what} on ${conn.label} (nothing is run)`);
            cliOut(formatStatements(result.statements, '  ').join('\n'));
            return;
          }
          cliOut(
            `abandoned the drain of ${what}: ` +
              (result.dropped.length > 0
                ? `dropped ${result.dropped.join(', ')}`
                : 'no drain tables') +
              (result.captureDropped.length > 0
                ? `; capture triggers dropped on ${result.captureDropped.join(', ')}`
                : '') +
              (result.captureKept.length > 0
                ? `; capture triggers kept on ${result.captureKept.join(', ')} (another drain of the family is recorded)`
                : '') +
              '; every row stays in DEFAULT',
          );
          return;
        }
        const drainOptions = {
          strategy: options.strategy,
          batchPages: options.batchPages,
          throttleMs: options.throttle,
          sideBySide: options.sideBySide,
          maintenanceWorkMem: options.maintenanceWorkMem,
          lockTimeoutMs: options.lockTimeout,
          retries: options.retries,
        };
        if (options.dryRun) {
          // A role that may not read what the dry run reads is told every GRANT it lacks.
          const { preview, statements } = await asReader(conn.db, 'drain --dry-run', [family], () =>
            drainDryRun(conn.db, family, key, {
              ...drainOptions,
              onRetry: readRetryPrinter("reading the drain's tables"),
            }),
          );
          if (options.json) {
            cliOut(toJson({ strategy: preview.strategy, statements }));
            return;
          }
          cliOut(
            `pgparts drain --dry-run ${shellWord(family.name)} ${shellWord(keyLabel(key))} on ${conn.label} (nothing is run)` +
              (preview.strategy ? `; final phase: ${preview.strategy}` : '; nothing to drain'),
          );
          cliOut(formatStatements(statements, '  ').join('\n'));
          return;
        }
        if (await refuseOnStandby(conn, 'drain')) return;
        await checkPrivileges(conn, 'drain', [family]);
        const result = await drainKey(conn.db, family, key, {
          ...drainOptions,
          onProgress: (p) => {
            if (!tty) return;
            const where = p.table ? ` ${p.table}` : '';
            const share = p.total ? ` ${Math.floor((100 * p.done) / p.total)}%` : '';
            cliIo().stdout.write(`\r\x1b[K  ${p.phase}${where}${share}`);
          },
          onRetry: (attempt, delayMs) => {
            if (!options.json)
              cliOut(`\n  lock timeout (attempt ${attempt}); retrying in ${formatMs(delayMs)}`);
          },
        });
        if (tty) cliIo().stdout.write('\r\x1b[K');
        if (options.json) {
          cliOut(toJson(result));
          return;
        }
        if (result.status === 'nothing-to-do') {
          cliOut(`${family.name} ${keyLabel(key)}: already has its partitions; nothing to drain`);
          return;
        }
        if (result.status === 'completed') {
          cliOut(
            `${family.name} ${keyLabel(key)}: already has its partitions; validated the foreign ` +
              `keys an interrupted swap left NOT VALID (${result.swap?.validated.join(', ')}) in ` +
              formatMs(result.swap?.validateMs ?? 0),
          );
          return;
        }
        for (const t of result.tables)
          cliOut(`  ${t.partition}: ${counted(t.rowsMoved, 'row')} moved`);
        const held = result.finalPhase;
        const how =
          result.strategy === 'swap'
            ? `DEFAULT swapped; foreign keys validated online after, in ${formatMs(result.swap?.validateMs ?? 0)}`
            : `deleted from DEFAULT in ${formatMs(held.deleteMs)}` +
              (result.skippedTriggers
                ? ''
                : ' (without session_replication_role: ON DELETE triggers ran)');
        cliOut(
          `drained ${family.name} ${result.key}: ${counted(result.rowsMoved, 'row')} in ${formatMs(result.elapsedMs)}; ` +
            `locks held ${formatMs(result.maxLockHoldMs)} (${how})`,
        );
      } finally {
        await conn.close();
      }
    });
}
