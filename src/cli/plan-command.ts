import type { Command } from 'commander';
import { asReader } from '../run/read-privileges.js';
import { planStatements } from '../run/step-statements.js';
import { loadFamilies } from './config.js';
import { connect } from './connection.js';
import { formatPlan, toJson } from './format.js';
import { cliOut } from './io.js';
import {
  addBuildMemoryOption,
  addLockOptions,
  type GlobalOptions,
  type LockOptions,
} from './options.js';
import { catalogRead } from './progress.js';

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
        const planned = await asReader(conn.db, 'plan', families, () =>
          planStatements(conn.db, families, {
            ...catalogRead(options),
            maintenanceWorkMem: options.maintenanceWorkMem,
          }),
        );
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
