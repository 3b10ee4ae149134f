#!/usr/bin/env node
import { pgErrorCode, pgErrorMessage } from '../run/pg-error.js';
import { connectionFailure } from './connection.js';
import { buildProgram } from './program.js';
import { redactSecrets } from './redact.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((thrown: unknown) => {
    const error = connectionFailure(thrown) ?? thrown;
    // A server error reads as the server wrote it (not Drizzle's "Failed query: ..." wrapper).
    const code = pgErrorCode(error);
    const message = code
      ? `pgparts: ${pgErrorMessage(error)} (SQLSTATE ${code})`
      : error instanceof Error
        ? error.message
        : String(error);
    console.error(redactSecrets(message));
    process.exitCode = 1;
  });
