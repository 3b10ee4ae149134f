#!/usr/bin/env node
import { buildProgram } from './program.js';
import { givenUrls, redactSecrets } from './redact.js';

buildProgram()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    console.error(redactSecrets(message, givenUrls()));
    process.exitCode = 1;
  });
