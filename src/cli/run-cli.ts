import { type Command, CommanderError } from 'commander';
import { isPgpartsError } from '../errors.js';
import { connectionFailure, unreachable } from '../run/connection-errors.js';
import { isConnectionLoss, oneLine, pgErrorCode, pgErrorMessage } from '../run/pg-error.js';
import { type CliIo, cliErr, setCliExitCode, withCliIo } from './io.js';
import { buildProgram } from './program.js';
import { redactSecrets } from './redact.js';

/** Every command of the tree, so each writes through the run's streams and never exits. */
function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/** One line for an error: the server's own words, or pgparts's. */
export function describeCliError(error: unknown): string {
  // A pooler (pgbouncer) refuses a startup parameter it does not know before the connection is
  // made; --query-timeout sends statement_timeout as one.
  const refused = /unsupported startup parameter: (\w+(?:\.\w+)*)/.exec(pgErrorMessage(error))?.[1];
  if (refused) {
    const instead =
      refused === 'statement_timeout'
        ? ' (--query-timeout sends it): run with --query-timeout 0 there, or'
        : ':';
    return (
      `pgparts: the server refused the connection's startup parameter ${refused}, as a pooler ` +
      `such as pgbouncer does with the ones it does not know${instead} list ${refused} in the ` +
      "pooler's ignore_startup_parameters (the setting then does not apply)"
    );
  }
  if (isConnectionLoss(error) && !isPgpartsError(error, 'connection')) {
    return `pgparts: the connection to the database was lost: ${oneLine(pgErrorMessage(error))}`;
  }
  if (isPgpartsError(error)) return error.message;
  // A server error reads as the server wrote it (not Drizzle's "Failed query: ..." wrapper).
  const code = pgErrorCode(error);
  if (code) return `pgparts: ${pgErrorMessage(error)} (SQLSTATE ${code})`;
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith('pgparts: ') ? message : `pgparts: ${message}`;
}

/**
 * The pgparts command, run in-process: `argv` without the node and script paths. Output goes to
 * `io`, the environment is `io.env`; returns the exit code (0 ok, 1 error, 2 `status --check`
 * found something). The installed binary is this function over the process's streams.
 */
export function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  return withCliIo(io, async () => {
    const program = buildProgram();
    // What commander ended itself (help, a usage error it printed), as opposed to an error a
    // command threw (an InvalidArgumentError from an action is one too, and is printed below).
    const endedByCommander = new WeakSet<object>();
    for (const command of allCommands(program)) {
      command
        .exitOverride((error) => {
          endedByCommander.add(error);
          throw error;
        })
        .configureOutput({
          writeOut: (text) => io.stdout.write(text),
          writeErr: (text) => io.stderr.write(text),
        });
    }
    try {
      await program.parseAsync([...argv], { from: 'user' });
    } catch (thrown) {
      if (thrown instanceof CommanderError && endedByCommander.has(thrown)) {
        // --help and --version end here with 0; usage errors were printed by commander.
        setCliExitCode(thrown.exitCode);
        return;
      }
      // A connection error pgparts already described (apply: the step it cut short, and that the
      // next run finishes it) stays as it is; a driver's is described here.
      const error =
        isPgpartsError(thrown, 'connection') && !unreachable(thrown)
          ? thrown
          : (connectionFailure(thrown) ?? thrown);
      // Every failure ends with exit 1 and its message, no stack trace; a lost connection in one
      // line (the driver's multi-line detail adds nothing cron can act on).
      const message = redactSecrets(describeCliError(error));
      cliErr(isConnectionLoss(error) ? oneLine(message) : message);
      setCliExitCode(1);
    }
  });
}
