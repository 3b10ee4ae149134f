import type { Machine } from '../machine.js';
import type { WriterFigures } from './writers.js';

export type Tool = 'pg_partman' | 'pgparts';

export type CaseId =
  | 'drain'
  | 'foreign-key'
  | 'noop-empty'
  | 'noop-default'
  | 'noop-six'
  | 'create-next'
  | 'retention';

/** One tool's run of a case: its wall time and the writers' figures while it ran. */
export interface PeerRun {
  tool: Tool;
  /** pgparts's drain strategy, or a variant such as `jit=off`. */
  variant?: string;
  ms: number;
  /** No-op cases: every timed call (the figure is their median). */
  samples?: number[];
  writers: WriterFigures[];
  /** 1-minute load average when the run started. */
  load: number;
  /** Rows lost (foreign key and drain cases): per table, before minus after, and checksums equal. */
  integrity?: { table: string; before: number; after: number; checksumEqual: boolean }[];
  note: string;
}

export interface PeerCase {
  id: CaseId;
  title: string;
  runs: PeerRun[];
  note: string;
}

export interface PeerReport {
  label: string;
  rows: number;
  startedAt: string;
  finishedAt: string;
  commit: string;
  machine: Machine;
  partmanVersion: string;
  settings: Record<string, string>;
  loadAverage: { before: number[]; after: number[] };
  cases: PeerCase[];
  notes: string[];
}
