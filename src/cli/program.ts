import { Command } from 'commander';
import { registerMigrate } from './migrate-command.js';

/** The `pgparts` command. Each subcommand is a thin face over an exported function. */
export function buildProgram(): Command {
  const program = new Command('pgparts')
    .description('keep PostgreSQL tables partitioned, correct and fast')
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL)')
    .showHelpAfterError();
  registerMigrate(program);
  return program;
}
