import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/support/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file has its own database. Three files at a time on two cores: a file often waits (on
    // its own server's restart, a subprocess, a throttled copy, a lock it holds on purpose), and
    // the third keeps the cores busy meanwhile.
    fileParallelism: true,
    maxWorkers: 3,
    // A worker keeps its imported modules from one file to the next instead of importing src/
    // again per file (about half the import time). Tests share no state through modules: each
    // file has its own database, nothing is mocked, and env changes are restored.
    isolate: false,
    // The longest files start first (test/support/sequencer.ts).
    sequence: { sequencer: LongestFirstSequencer },
    // An unhandled error fails a run whose tests all passed: repeated at the end of the output.
    reporters: ['default', './test/support/unhandled-errors-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
