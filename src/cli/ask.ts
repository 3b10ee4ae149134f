import { createInterface } from 'node:readline/promises';
import { cliIo } from './io.js';

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
