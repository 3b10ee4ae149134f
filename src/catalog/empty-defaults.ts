import { rememberRecent } from './recent.js';

/**
 * Which DEFAULT partitions the last catalog read in this process found empty. Most runs find a
 * DEFAULT empty, as the run before did; for such a DEFAULT the next read's first look is the
 * EXISTS alone, without the search for its keys and the probes it would otherwise carry
 * (default-rows.ts): the server plans those on every run even where their CASE never runs them,
 * which costs more than the EXISTS itself. Should the DEFAULT hold rows by then, the search and
 * the probes go out in a round trip of their own, and the run after sends them with the look
 * again. What is remembered only chooses how the reading is split: whatever it says, every read
 * learns the same about DEFAULT. Keyed by the partition's schema-qualified name; a process that
 * keeps two databases with the same names pays, at worst, the round trip or the planning.
 */
const lastSeenEmpty = new Map<string, true>();
const REMEMBERED_DEFAULTS = 1_000;

/** Whether the last read found `qualified` (`schema.name`) empty. */
export function wasEmptyLastRead(qualified: string): boolean {
  return lastSeenEmpty.has(qualified);
}

export function rememberOccupancy(qualified: string, hasRows: boolean): void {
  if (hasRows) lastSeenEmpty.delete(qualified);
  else rememberRecent(lastSeenEmpty, qualified, true, REMEMBERED_DEFAULTS);
}
