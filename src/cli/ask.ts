import { createInterface } from 'node:readline/promises';
import { cliErr, cliIo, setCliExitCode } from './io.js';

/** Asks a y/N question on the terminal; false when there is no terminal to ask on. */
export async function askYesNo(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !cliIo().stdout.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Asks before a step that drops what cannot be had back. Not confirmed (or no terminal to ask
 * on): says how to run it without asking, and the command ends with exit 1.
 */
export async function confirmOrStop(question: string, action: string): Promise<boolean> {
  if (await askYesNo(question)) return true;
  cliErr(`pgparts: not confirmed; pass --yes to ${action} without asking`);
  setCliExitCode(1);
  return false;
}
