import type { Command } from 'commander';
import { counted } from '../define/counted.js';
import { keyLabel, partitionName } from '../define/partition-key.js';
import { DEFAULT_ARCHIVE_SCHEMA } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { reattachDryRun, reattachKey } from '../ops/reattach.js';
import {
  type RetirePreview,
  retireDryRun,
  retireKey,
  retirePreviewSql,
  unretireKey,
} from '../ops/retention.js';
import { asReader } from '../run/read-privileges.js';
import { confirmOrStop } from './ask.js';
import { loadFamilies } from './config.js';
import { connect } from './connection.js';
import { formatMs, formatStatements, toJson } from './format.js';
import { cliOut } from './io.js';
import { resolveKey, TABLE_ARGUMENT_HELP } from './key-argument.js';
import { acceptYes, addLockOptions, type GlobalOptions } from './options.js';
import { refuseOnStandby } from './standby.js';

interface RetireCommandOptions {
  archive?: boolean;
  drop?: boolean;
  archiveSchema?: string;
  yes?: boolean;
  dryRun?: boolean;
  force?: boolean;
  lockTimeout: number;
  retries: number;
  json?: boolean;
}

export function registerRetire(program: Command): void {
  addLockOptions(program.command('retire'))
    .description(
      "drop (or archive) one key's partitions in every table of the family, referencing tables " +
        'first; only partitions pgparts created; never CASCADE',
    )
    .argument('<table>', TABLE_ARGUMENT_HELP)
    .argument(
      '<key>',
      'the LIST value (13), or a date in the RANGE interval (2025-06; a week also 2025-w23; or as status prints it, 2025-06-01..2025-07-01)',
    )
    .option(
      '--archive',
      "detach into the archive schema instead of dropping (default: the spec's retention.mode, else drop)",
    )
    .option('--drop', "drop, whatever the spec's retention.mode says")
    .option(
      '--archive-schema <name>',
      `schema for --archive (default: the spec's, or ${DEFAULT_ARCHIVE_SCHEMA})`,
    )
    .option('--dry-run', 'print the exact SQL the retire would run; run nothing')
    .option('--yes', 'do it without asking')
    .option(
      '--force',
      'retire even the current or a future interval, or a value the spec lists in `values`',
    )
    .option('--json', 'print the result as JSON')
    .action(async (table: string, keyText: string, options: RetireCommandOptions) => {
      const global = program.opts<GlobalOptions>();
      const { family, key } = resolveKey(await loadFamilies(global.config), table, keyText);
      if (options.archive && options.drop) {
        throw new PgpartsError('invalid-input', 'pgparts: retire: --archive or --drop, not both');
      }
      // The spec's mode unless told otherwise: a family that archives is not dropped by hand.
      const mode = options.archive
        ? 'archive'
        : options.drop
          ? 'drop'
          : (family.retention?.mode ?? 'drop');
      const partitions = [...family.tables].reverse().map((t) => partitionName(family, t, key));
      const what = `${mode === 'drop' ? 'DROP' : 'archive'} ${partitions.join(', ')} (${family.name} ${keyLabel(key)})`;
      // The dry run, and the question without --yes, show what the retire would run: its key
      // checked and its preflight read first, so a refusal comes before any question.
      const preview = async (print: boolean): Promise<RetirePreview | null> => {
        const conn = await connect(global);
        try {
          // A role that may not read what the dry run reads is told every GRANT it lacks.
          const found = await asReader(conn.db, 'retire --dry-run', [family], () =>
            retireDryRun(conn.db, family, key, {
              mode,
              force: options.force === true,
              ...(options.archiveSchema ? { archiveSchema: options.archiveSchema } : {}),
            }),
          );
          const statements = retirePreviewSql(found);
          if (options.json && options.dryRun) {
            cliOut(toJson({ mode: found.mode, statements }));
            return found;
          }
          if (found.facts.present.length === 0) {
            cliOut(
              `${family.name} ${keyLabel(key)}: no partitions to retire: it is retired already (nothing is run)`,
            );
            return null;
          }
          if (!print) return found;
          cliOut(`would detach and ${what}, in this order (nothing is run):`);
          cliOut(formatStatements(statements, '  ').join('\n'));
          return found;
        } finally {
          await conn.close();
        }
      };
      if (options.dryRun) {
        await preview(true);
        return;
      }
      if (!options.yes) {
        // With --json the checks run, and stdout keeps to the result.
        if (!(await preview(!options.json))) return;
        if (!(await confirmOrStop(`${what}?`, 'retire'))) return;
      }
      const conn = await connect(global);
      try {
        if (await refuseOnStandby(conn, 'retire')) return;
        const result = await retireKey(conn.db, family, key, {
          mode,
          force: options.force === true,
          ...(options.archiveSchema ? { archiveSchema: options.archiveSchema } : {}),
          lockTimeoutMs: options.lockTimeout,
          retries: options.retries,
        });
        if (options.json) {
          cliOut(toJson(result));
          return;
        }
        if (result.status === 'nothing-to-do') {
          cliOut(`${family.name} ${result.key}: no partitions to retire: it is retired already`);
          return;
        }
        for (const p of result.partitions) {
          cliOut(
            `  ${p.partition}: ${p.archivedAs ? `archived as ${p.archivedAs}` : 'dropped'} (${p.rows === null ? 'rows not estimated: never analyzed' : `~${counted(p.rows, 'row')}`})`,
          );
        }
        cliOut(
          `retired ${family.name} ${result.key} in ${formatMs(result.elapsedMs)} with DETACH ${result.detach === 'concurrently' ? 'CONCURRENTLY' : `(plain: ${result.detachNote})`}`,
        );
      } finally {
        await conn.close();
      }
    });

  acceptYes(addLockOptions(program.command('reattach')))
    .description(
      'attach an archived key back into every table of the family (a backfill, an audit)',
    )
    .argument('<table>', TABLE_ARGUMENT_HELP)
    .argument(
      '<key>',
      'the LIST value, or a date in the RANGE interval (a week also YYYY-wNN, or A..B as status prints it)',
    )
    .option(
      '--archive-schema <name>',
      `where it was archived (default: where its retire recorded, else the spec's, or ${DEFAULT_ARCHIVE_SCHEMA})`,
    )
    .option('--dry-run', "print each table's statements, in the order they run; change nothing")
    .action(
      async (
        table: string,
        keyText: string,
        options: {
          archiveSchema?: string;
          dryRun?: boolean;
          lockTimeout: number;
          retries: number;
        },
      ) => {
        const global = program.opts<GlobalOptions>();
        const { family, key } = resolveKey(await loadFamilies(global.config), table, keyText);
        const conn = await connect(global);
        try {
          if (options.dryRun) {
            const preview = await asReader(conn.db, 'reattach --dry-run', [family], () =>
              reattachDryRun(conn.db, family, key, {
                ...(options.archiveSchema ? { archiveSchema: options.archiveSchema } : {}),
              }),
            );
            cliOut(
              `would reattach ${family.name} ${preview.key} from ${preview.archiveSchema}, one transaction a table (nothing is run):`,
            );
            for (const unit of preview.units) {
              cliOut(`  ${unit.archived} -> ${unit.partition} (${counted(unit.rows, 'row')}):`);
              cliOut(formatStatements(unit.statements, '    ').join('\n'));
            }
            cliOut(
              `then the key's retired record is deleted: maintenance keeps the key's partitions again`,
            );
            return;
          }
          if (await refuseOnStandby(conn, 'reattach')) return;
          const result = await reattachKey(conn.db, family, key, {
            ...(options.archiveSchema ? { archiveSchema: options.archiveSchema } : {}),
            lockTimeoutMs: options.lockTimeout,
            retries: options.retries,
          });
          for (const p of result.partitions)
            cliOut(`  ${p.partition}: attached, ${counted(p.rows, 'row')}`);
          cliOut(`reattached ${family.name} ${result.key} in ${formatMs(result.elapsedMs)}`);
        } finally {
          await conn.close();
        }
      },
    );

  acceptYes(program.command('unretire'))
    .description(
      'forget that a key was retired, so the next apply creates its partitions again where the ' +
        'spec wants them (empty; an archived key comes back with its rows through reattach instead)',
    )
    .argument('<table>', TABLE_ARGUMENT_HELP)
    .argument(
      '<key>',
      'the LIST value, or a date in the RANGE interval (a week also YYYY-wNN, or A..B as status prints it)',
    )
    .action(async (table: string, keyText: string) => {
      const global = program.opts<GlobalOptions>();
      const { family, key } = resolveKey(await loadFamilies(global.config), table, keyText);
      const conn = await connect(global);
      try {
        if (await refuseOnStandby(conn, 'unretire')) return;
        const forgotten = await unretireKey(conn.db, family, key);
        cliOut(
          forgotten
            ? `${family.name} ${keyLabel(key)}: no longer retired; the next apply creates its partitions if the spec still wants them (a value it lists or reads, inside the retention window)`
            : `${family.name} ${keyLabel(key)}: was not retired; nothing to do`,
        );
      } finally {
        await conn.close();
      }
    });
}
