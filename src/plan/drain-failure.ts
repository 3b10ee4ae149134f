import { familyArgument, labelWord } from '../define/command-words.js';
import type { FamilySpec } from '../define/spec.js';

/**
 * A drain that fails the same way on every run (drain.ts: a lasting failure) says so in its
 * operations record's detail, `failed <when>: <message>`, which status prints with the way out.
 */
const FAILED_PREFIX = 'failed ';

/** The record's detail for a drain whose run at `at` failed with `message`. */
export function failedDrainDetail(at: Date, message: string): string {
  return `${FAILED_PREFIX}${at.toISOString()}: ${message.replace(/^pgparts: /, '')}`;
}

/** `<when>: <message>` of a drain's recorded lasting failure; null when none is recorded. */
export function drainFailure(operation: string, detail: string | null): string | null {
  if (operation !== 'drain' || !detail?.startsWith(FAILED_PREFIX)) return null;
  return detail.slice(FAILED_PREFIX.length);
}

/** The command that gives up an interrupted drain of the key labelled `label`. */
export function abandonCommand(family: FamilySpec, label: string): string {
  return `pgparts drain --abandon ${familyArgument(family)} ${labelWord(family, label)}`;
}
