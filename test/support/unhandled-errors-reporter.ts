import { relative } from 'node:path';
import type { Reporter, SerializedError } from 'vitest/node';

/**
 * Repeats each unhandled error of the run in a few lines at the very end of the output, after
 * vitest's summary. vitest prints them in full above the summary, where a log cut to its last
 * lines (a CI page) loses them; a run with every test passed still fails on one, so its cause
 * must be in the lines that survive. Prints nothing when there is none.
 */
export default class UnhandledErrorsReporter implements Reporter {
  onTestRunEnd(_modules: unknown, errors: ReadonlyArray<SerializedError>): void {
    if (errors.length === 0) return;
    const lines = [`\n${errors.length} unhandled error(s), repeated from above:`];
    for (const error of errors) {
      const e = error as SerializedError & {
        type?: string;
        code?: string;
        VITEST_TEST_PATH?: string;
        VITEST_TEST_NAME?: string;
      };
      const where = e.VITEST_TEST_PATH ? relative(process.cwd(), e.VITEST_TEST_PATH) : 'no file';
      const during = e.VITEST_TEST_NAME ? `test "${e.VITEST_TEST_NAME}"` : 'outside any test';
      lines.push(
        `- ${e.type ?? 'error'}: ${e.name ?? 'Error'}${e.code ? ` [${e.code}]` : ''}: ${e.message} ` +
          `(while ${where} ran, ${during})`,
      );
      const frames = (e.stack ?? '')
        .split('\n')
        .filter((line) => /^\s+at /.test(line))
        .slice(0, 4);
      for (const frame of frames) lines.push(`    ${frame.trim()}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
