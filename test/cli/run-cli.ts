import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { inject } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry point of this repository (an example) as a user would. */
export function runTs(
  entry: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliRun> {
  return runNode(['--import', 'tsx', entry, ...args], env);
}

/** `node <args>` as a separate process in `cwd` (the repository root by default), its output captured. */
export function runNode(
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string = REPO_ROOT,
): Promise<CliRun> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/**
 * `pgparts <args>` with DATABASE_URL set to `url`, in this process: the same runCli the binary
 * runs, its output captured (not a terminal). Paths resolve from the repository root.
 */
export function pgparts(url: string | undefined, ...args: string[]): Promise<CliRun> {
  return pgpartsIn(undefined, url, ...args);
}

/** `pgparts <args>` in-process as run in the folder `cwd` (configs found and paths read there). */
export async function pgpartsIn(
  cwd: string | undefined,
  url: string | undefined,
  ...args: string[]
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (text: string) => (stdout += text), isTTY: false },
    stderr: { write: (text: string) => (stderr += text), isTTY: false },
    env: { ...process.env, DATABASE_URL: url },
    ...(cwd ? { cwd } : {}),
  });
  return { code, stdout, stderr };
}

/**
 * `pgparts <args>` as a separate process, through the real entry point (smoke tests only):
 * src/cli/index.ts as the global setup bundled it (see cli-bundle.ts), run by plain node.
 */
export function pgpartsProcess(url: string | undefined, ...args: string[]): Promise<CliRun> {
  return runNode([inject('cliBundle'), ...args], { DATABASE_URL: url });
}
