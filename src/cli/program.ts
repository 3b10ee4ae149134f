import { Command } from 'commander';
import { DEFAULT_REPLY_TIMEOUT_S } from '../run/reply-watchdog.js';
import { registerApply } from './apply-command.js';
import { CONFIG_FILES, configNamesTried, defaultConfigFile, isPackageRoot } from './config-file.js';
import { DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_QUERY_TIMEOUT_S } from './connection.js';
import { registerConvert } from './convert-command.js';
import { registerDrain } from './drain-command.js';
import { registerGenerate } from './generate-command.js';
import { cliCwd, cliErr } from './io.js';
import { registerMigrate } from './migrate-command.js';
import { type GlobalOptions, wholeNumber } from './options.js';
import { packageVersion } from './package-version.js';
import { registerPlan } from './plan-command.js';
import { registerRetire } from './retire-command.js';
import { registerStatus } from './status-command.js';

/** The `pgparts` command. Each subcommand is a thin face over an exported function. */
export function buildProgram(): Command {
  const program = new Command('pgparts')
    .description(
      'keep PostgreSQL tables partitioned, correct and fast. Commands that connect use the ' +
        "app's postgres.js (`postgres`) if installed, else node-postgres (`pg`)",
    )
    .version(packageVersion(), '-V, --version', "print pgparts's version")
    .option('--database-url <url>', 'PostgreSQL URL (default: $DATABASE_URL)')
    .option(
      '--config <file>',
      `pgparts.config (.ts, .mts, .mjs, .js, .cts, .cjs or .json exporting \`families\`); default: the first of ${CONFIG_FILES.join(', ')} in the current folder, else the built-in leaderboard and killmail families (said on stderr)`,
    )
    .option(
      '--connect-timeout <s>',
      'seconds to wait for the server to answer the connection',
      wholeNumber(1),
      DEFAULT_CONNECT_TIMEOUT_S,
    )
    .option(
      '--query-timeout <s>',
      `statement_timeout in seconds, 0 for none (default: ${DEFAULT_READ_QUERY_TIMEOUT_S} for status and plan, none for commands that change)`,
      wholeNumber(0),
    )
    .option(
      '--reply-timeout <s>',
      `seconds a statement may go without a reply before pgparts asks the server (over a new connection) whether it still runs it; if not, or no answer, the command fails (default: $PGPARTS_REPLY_TIMEOUT, else ${DEFAULT_REPLY_TIMEOUT_S}; over postgres.js only)`,
      wholeNumber(1),
    )
    .showHelpAfterError()
    // One default for every command: the folder's config, as generate reads it. Without one,
    // the built-in families, said on stderr: `migrate` would otherwise create 70+ tables of
    // them in an app's database without a word (generate refuses instead: generate-command.ts).
    .hook('preAction', (_program, action) => {
      if (program.opts<GlobalOptions>().config !== undefined) return;
      const cwd = cliCwd();
      const found = defaultConfigFile(cwd);
      if (found) program.setOptionValue('config', found);
      else if (action.name() !== 'generate' && !isPackageRoot(cwd)) {
        cliErr(
          `pgparts: ${configNamesTried(cwd)}; using the built-in leaderboard and killmail families (name yours with --config)`,
        );
      }
    });
  registerGenerate(program);
  registerMigrate(program);
  registerStatus(program);
  registerPlan(program);
  registerApply(program);
  registerDrain(program);
  registerRetire(program);
  registerConvert(program);
  return program;
}
