#!/usr/bin/env node
import { PgpartsError } from '../errors.js';
import { oneLine } from '../run/pg-error.js';
import { redactSecrets } from './redact.js';
import { describeCliError, runCli } from './run-cli.js';

/**
 * The installed binary: runCli over the process's streams. runCli turns every error a command
 * throws into one message and exit 1; here the process-level failures end the same way, with
 * one line on stderr and exit 1: a connection lost outside any awaited promise (the driver
 * throwing from a timer), and a command whose work stopped without finishing (its connection
 * gone, the event loop empty): cron must never read success there.
 */

let finished = false;
let failed = false;

function fail(error: unknown): void {
  if (failed) return;
  failed = true;
  process.stderr.write(`${oneLine(redactSecrets(describeCliError(error)))}\n`);
  process.exitCode = 1;
}

// Errors thrown outside any promise a command awaits (postgres.js writing to a closed socket
// from a timer, a node-postgres client's 'error' event): one line, and the process ends.
process.on('uncaughtException', (error) => {
  fail(error);
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  fail(error);
  process.exit(1);
});
// The event loop emptied while a command was still awaiting: a query whose connection died
// without settling it. Node would exit 0 here.
process.on('beforeExit', () => {
  if (finished || failed) return;
  fail(
    new PgpartsError(
      'connection',
      'the command stopped before it finished (the database connection was lost)',
    ),
  );
});

// Ctrl-C or a TERM from a scheduler: one line saying what state the work is in, then the exit
// code a signal gives (128 + its number). The server rolls back the transaction in progress when
// the connection closes; drain, retire and convert continue where they stopped when run again.
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    failed = true;
    process.stderr.write(
      `pgparts: interrupted (${signal}); what ran in a transaction was rolled back, and a drain, ` +
        'retire or conversion continues where it stopped when run again\n',
    );
    process.exit(code);
  });
}

// The reader of the output went away (`pgparts ... | head -1`): a write then fails with EPIPE,
// which is no database connection lost. The rest of the output goes nowhere, and the command
// finishes its work (an apply is not stopped half-way) and exits with its own code.
let stdoutGone = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE' || stdoutGone) {
    stdoutGone = true;
    return;
  }
  fail(error);
  process.exit(1);
});
const stdout = {
  write: (text: string) => (stdoutGone ? true : process.stdout.write(text)),
  get isTTY() {
    return process.stdout.isTTY;
  },
};

const exitCode = await runCli(process.argv.slice(2), {
  stdout,
  stderr: process.stderr,
  env: process.env,
});
finished = true;
if (!failed) process.exitCode = exitCode;
