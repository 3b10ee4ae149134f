import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { inject } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { bundleEntry } from '../support/cli-bundle.js';

export const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript entry point of this repository (an example) as a separate process, as a user
 * would with `npx tsx <entry>`: bundled by esbuild first, as tsx transforms it (see
 * cli-bundle.ts), then run by plain node. tsx itself spends about 2.4 CPU-s of a launch
 * transforming the ~100 source files an example imports; the bundle about 0.3.
 */
export async function runTs(
  entry: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<CliRun> {
  const name = `${basename(entry, '.ts')}.${process.pid}`;
  const file = bundleEntry(resolve(REPO_ROOT, entry), 'examples', name);
  try {
    return await runNode([file, ...args], env);
  } finally {
    rmSync(file, { force: true });
  }
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
