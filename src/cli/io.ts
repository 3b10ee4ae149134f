import { AsyncLocalStorage } from 'node:async_hooks';

/** Where a CLI run writes: the process's streams, or a test's buffers. */
export interface CliStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  env: Record<string, string | undefined>;
  /** The folder the command runs in: configs are found and relative paths read from here. */
  cwd?: string;
}

interface CliRunState extends CliIo {
  exitCode: number;
}

const runs = new AsyncLocalStorage<CliRunState>();

/** The process itself: what the commands use outside runCli (never in practice; a safe default). */
const processRun = (): CliRunState => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  exitCode: 0,
});

/** The streams and environment of the CLI run in progress. */
export function cliIo(): CliIo {
  return runs.getStore() ?? processRun();
}

/** The folder the run works in: its `cwd`, else the process's. */
export function cliCwd(): string {
  return cliIo().cwd ?? process.cwd();
}

/** A line on the run's stdout (what console.log was). */
export function cliOut(line: string): void {
  cliIo().stdout.write(`${line}\n`);
}

/** A line on the run's stderr. */
export function cliErr(line: string): void {
  cliIo().stderr.write(`${line}\n`);
}

/** The exit code the run ends with, unless an error ends it first (1). */
export function setCliExitCode(code: number): void {
  const run = runs.getStore();
  if (run) run.exitCode = code;
  else process.exitCode = code;
}

/** Runs `body` as one CLI run over `io`; returns the exit code it set. */
export async function withCliIo(io: CliIo, body: () => Promise<void>): Promise<number> {
  const state: CliRunState = { ...io, exitCode: 0 };
  await runs.run(state, body);
  return state.exitCode;
}
