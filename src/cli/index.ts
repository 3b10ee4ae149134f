#!/usr/bin/env node
import { isPgpartsError } from '../errors.js';
import { isConnectionLoss, pgErrorCode, pgErrorMessage } from '../run/pg-error.js';
import { buildProgram } from './program.js';
import { redactSecrets } from './redact.js';

/**
 * The one place the CLI turns failures into output and exit codes. Every failure ends the
 * process with a non-zero code and one line on stderr (no stack trace): an error a command
 * threw, a connection lost at any point (also when the driver throws it from a timer, outside
 * any promise), and a command whose work stopped without finishing (its connection gone, the
 * event loop empty): cron must never read success there.
 */

/** One line for an error: the server's own words, or pgparts's. */
function describe(error: unknown): string {
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

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

let finished = false;
let failed = false;

function fail(error: unknown, onlyOneLine: boolean): void {
  if (failed) return;
  failed = true;
  const message = redactSecrets(describe(error));
  console.error(onlyOneLine ? oneLine(message) : message);
  process.exitCode = 1;
}

// Errors thrown outside any promise a command awaits (postgres.js writing to a closed socket
// from a timer, a node-postgres client's 'error' event): one line, and the process ends.
process.on('uncaughtException', (error) => {
  fail(error, true);
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  fail(error, true);
  process.exit(1);
});
// The event loop emptied while a command was still awaiting: a query whose connection died
// without settling it. Node would exit 0 here.
process.on('beforeExit', () => {
  if (finished || failed) return;
  fail(
    new Error('the command stopped before it finished (the database connection was lost)'),
    true,
  );
});

buildProgram()
  .parseAsync(process.argv)
  .then(() => {
    finished = true;
  })
  .catch((error: unknown) => {
    finished = true;
    fail(error, isConnectionLoss(error));
  });
