import type { Command } from 'commander';
import { inspectReadable } from '../catalog/inspect-readable.js';
import { readMaintenanceRuns } from '../catalog/maintenance-runs.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { prometheusMetrics } from '../metrics/collect.js';
import { status } from '../plan/status.js';
import { asReader } from '../run/read-privileges.js';
import { onOwnConnection } from '../run/session.js';
import { loadFamilies } from './config.js';
import { type CliConnection, connect } from './connection.js';
import { formatStatus, toJson } from './format.js';
import { formatMaintenanceRuns } from './format-runs.js';
import { cliIo, cliOut, setCliExitCode } from './io.js';
import { addLockOptions, type GlobalOptions, type LockOptions } from './options.js';
import { catalogRead } from './progress.js';

/** Exit code of `status --check` when something needs attention (1 is for errors). */
export const ATTENTION_EXIT_CODE = 2;

export function registerStatus(program: Command): void {
  addLockOptions(program.command('status'))
    .description(
      'show each family: partitions with bounds, sizes and rows, DEFAULT rows, the first ' +
        'uncovered interval, pending steps, retention candidates',
    )
    .option('--json', 'print the report as JSON')
    .option(
      '--exact',
      "count DEFAULT's rows exactly, per key (reads all of DEFAULT; without it: whether it " +
        'holds rows, of which keys, and the estimate)',
    )
    .option(
      '--format <format>',
      'text (default), json, or prometheus: the metrics in the Prometheus text format (for the node exporter textfile collector; not with --json or --check)',
      'text',
    )
    .option(
      '--check',
      `exit with code ${ATTENTION_EXIT_CODE} when something needs attention (for alerting)`,
    )
    .action(async (options: StatusOptions) => {
      const global = program.opts<GlobalOptions>();
      if (!['text', 'json', 'prometheus'].includes(options.format)) {
        throw new PgpartsError(
          'invalid-input',
          `status --format ${options.format}: use text, json or prometheus`,
        );
      }
      // The metrics are the report and the alert at once (pgparts_* gauges, exit 0): a flag
      // that asks for another report or another exit code would be ignored, so it is refused.
      const clash =
        options.format === 'prometheus'
          ? [options.json ? '--json' : '', options.check ? '--check' : ''].filter((f) => f !== '')
          : [];
      if (clash.length > 0) {
        throw new PgpartsError(
          'invalid-input',
          `status --format ${options.format} cannot be combined with ${clash.join(' or ')}: ` +
            'the metrics are both the report and the alert (alert on pgparts_* gauges); nothing was read',
        );
      }
      const families = await loadFamilies(global.config);
      const conn = await connect(global, { readOnly: true });
      try {
        // Every read on one connection of the command's own: see onOwnConnection.
        await onOwnConnection(
          conn.db,
          (db) =>
            asReader(db, 'status', families, () => report({ ...conn, db }, families, options)),
          { openFirst: true },
        );
      } finally {
        await conn.close();
      }
    });
}

interface StatusOptions extends LockOptions {
  json?: boolean;
  check?: boolean;
  exact?: boolean;
  format: string;
}

/** What `status` prints, in the format asked for. */
async function report(
  conn: CliConnection,
  families: FamilySpec[],
  options: StatusOptions,
): Promise<void> {
  const reading = catalogRead(options);
  if (options.format === 'prometheus') {
    cliIo().stdout.write(await prometheusMetrics(conn.db, families, reading));
    return;
  }
  const read = await inspectReadable(conn.db, families, {
    ...reading,
    sizes: true,
    exactDefaultRows: options.exact ?? false,
  });
  const found = status(read.readable, read.snapshot);
  const maintenance = await readMaintenanceRuns(conn.db, read.readable);
  const unreadable = read.unreadable.map((u) => ({
    family: u.family,
    schema: u.schema,
    code: u.error.code,
    message: u.error.message,
  }));
  if (options.json || options.format === 'json') {
    cliOut(toJson({ database: conn.label, ...found, unreadable, maintenance }));
  } else {
    const heading = `pgparts status of ${conn.label} at ${found.now.toISOString()}`;
    const lines = formatStatus(found, heading, unreadable.length);
    const notRead = unreadable.flatMap((u) => [
      '',
      `${u.family}: not read (${u.schema}): ${u.message}`,
    ]);
    cliOut([...lines, ...notRead, ...formatMaintenanceRuns(maintenance)].join('\n'));
  }
  // A family whose spec does not match, or whose tables could not be read, could not be
  // checked: exit 1, as for an error, with every other family reported above.
  if (found.mismatched.length > 0 || unreadable.length > 0) setCliExitCode(1);
  else if (options.check && found.attention.length > 0) setCliExitCode(ATTENTION_EXIT_CODE);
}
