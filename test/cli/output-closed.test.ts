import { spawn } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { REPO_ROOT } from './run-cli.js';

/**
 * `pgparts ... | head -1`: the reader of the output goes away, and the command's next write to
 * stdout fails with EPIPE. That is no lost database connection: the command goes on, its output
 * going nowhere, and exits with its own code, saying nothing.
 */
function withOutputClosed(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [inject('cliBundle'), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Closed before the process has started: its first write finds no reader.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stderr }));
  });
}

describe('the output closed under the command', () => {
  it('is not reported as a lost connection: exit 0, nothing on stderr', async () => {
    expect(await withOutputClosed(['--help'])).toEqual({ code: 0, stderr: '' });
  });
});
