import type { Command } from 'commander';
import type { FamilySpec } from '../define/spec.js';
import type { Plan } from '../plan/plan.js';
import { asReader } from '../run/read-privileges.js';
import { onOwnConnection } from '../run/session.js';
import { planStatements } from '../run/step-statements.js';
import { loadFamilies } from './config.js';
import { type CliConnection, connect } from './connection.js';
import { formatPlan, toJson } from './format.js';
import { cliOut } from './io.js';
import {
  addBuildMemoryOption,
  addLockOptions,
  type GlobalOptions,
  type LockOptions,
} from './options.js';
import { catalogRead } from './progress.js';

/**
 * What `plan` and `apply --dry-run` print, read on one connection of the command's own (see
 * onOwnConnection): a role that may not read something is told every GRANT it lacks.
 */
export function readPlan(
  conn: CliConnection,
  command: string,
  families: FamilySpec[],
  options: LockOptions & { maintenanceWorkMem?: string },
): Promise<Plan> {
  return onOwnConnection(
    conn.db,
    (db) =>
      asReader(db, command, families, () =>
        planStatements(db, families, {
          ...catalogRead(options),
          maintenanceWorkMem: options.maintenanceWorkMem,
        }),
      ),
    { openFirst: true },
  );
}

export function registerPlan(program: Command): void {
  addBuildMemoryOption(addLockOptions(program.command('plan')))
    .description(
      'show what apply would do, step by step, with the exact SQL and why; changes nothing',
    )
    .option('--json', 'print the plan as JSON')
    .action(async (options: { json?: boolean; maintenanceWorkMem?: string } & LockOptions) => {
      const global = program.opts<GlobalOptions>();
      const families = await loadFamilies(global.config);
      const conn = await connect(global, { readOnly: true });
      try {
        const planned = await readPlan(conn, 'plan', families, options);
        if (options.json) {
          cliOut(toJson({ database: conn.label, ...planned }));
        } else {
          const heading = `pgparts plan for ${conn.label} at ${planned.now.toISOString()}`;
          cliOut(formatPlan(planned, heading).join('\n'));
        }
      } finally {
        await conn.close();
      }
    });
}
