import type { Command } from 'commander';
import { inspect } from '../catalog/inspect.js';
import { status } from '../plan/status.js';
import { loadFamilies } from './config.js';
import { connect } from './connection.js';
import { formatStatus, toJson } from './format.js';
import { cliOut, setCliExitCode } from './io.js';
import type { GlobalOptions } from './options.js';

/** Exit code of `status --check` when something needs attention (1 is for errors). */
export const ATTENTION_EXIT_CODE = 2;

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'show each family: partitions with bounds, sizes and rows, DEFAULT rows, the first ' +
        'uncovered interval, pending steps, retention candidates',
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--check',
      `exit with code ${ATTENTION_EXIT_CODE} when something needs attention (for alerting)`,
    )
    .action(async (options: { json?: boolean; check?: boolean }) => {
      const global = program.opts<GlobalOptions>();
      const families = await loadFamilies(global.config);
      const conn = connect(global.databaseUrl);
      try {
        const snapshot = await inspect(conn.db, families);
        const report = status(families, snapshot);
        if (options.json) {
          cliOut(toJson({ database: conn.label, ...report }));
        } else {
          const heading = `pgparts status of ${conn.label} at ${report.now.toISOString()}`;
          cliOut(formatStatus(report, heading).join('\n'));
        }
        if (options.check && report.attention.length > 0) setCliExitCode(ATTENTION_EXIT_CODE);
      } finally {
        await conn.close();
      }
    });
}
