#!/usr/bin/env node
import { buildProgram } from './program.js';
import { redactSecrets } from './redact.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(redactSecrets(message));
    process.exitCode = 1;
  });
