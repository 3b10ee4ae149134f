import { describe, expect, it } from 'vitest';
import { parseBenchOptions } from '../../bench/options.js';
import { longestBlock, rowsLost, targetLines } from '../../bench/peer/targets.js';
import type { PeerCase, PeerRun } from '../../bench/peer/types.js';
import type { WriterFigures } from '../../bench/peer/writers.js';

const writer = (name: string, maxLatencyMs: number, maxLockWaitMs: number): WriterFigures => ({
  name,
  statements: 10,
  errors: 0,
  firstError: null,
  maxLatencyMs,
  p99LatencyMs: maxLatencyMs,
  maxLockWaitMs,
});

const run = (tool: PeerRun['tool'], ms: number, block: number, variant?: string): PeerRun => ({
  tool,
  ...(variant ? { variant } : {}),
  ms,
  writers: [writer('DEFAULT writer', block, 0), writer('existing-month writer', 5, block + 1)],
  load: 1,
  note: '',
});

describe('bench --peer targets', () => {
  it('judges writer blocks by the lock wait the server showed, not the latency', () => {
    const r = run('pgparts', 1, 40);
    expect(longestBlock(r)).toBe(41);
    r.writers[0] = writer('DEFAULT writer', 500, 3);
    expect(longestBlock(r)).toBe(41);
  });

  it('counts lost rows per table, never negative (writers add rows)', () => {
    const r: PeerRun = {
      ...run('pg_partman', 1, 1),
      integrity: [
        { table: 'events', before: 10, after: 12, checksumEqual: false },
        { table: 'event_notes', before: 10, after: 0, checksumEqual: false },
      ],
    };
    expect(rowsLost(r)).toBe(10);
  });

  it('judges the drain by time ratio and writer block, each strategy', () => {
    const drain: PeerCase = {
      id: 'drain',
      title: 'drain',
      note: '',
      runs: [
        run('pg_partman', 1000, 20_000),
        run('pgparts', 400, 50, 'delete'),
        run('pgparts', 600, 500, 'swap'),
      ],
    };
    const lines = targetLines({ cases: [drain] });
    expect(lines.map((l) => l.met)).toEqual([true, true, false, false]);
    expect(lines[0]?.measured).toBe('0.4 (400 / 1000 ms)');
  });

  it('reports retention block against pg_partman, not an absolute bound', () => {
    const retention: PeerCase = {
      id: 'retention',
      title: 'retention',
      note: '',
      runs: [run('pg_partman', 100, 200), run('pgparts', 300, 30)],
    };
    const lines = targetLines({ cases: [retention] });
    expect(lines.map((l) => [l.figure.startsWith('retention'), l.met])).toEqual([
      [true, false],
      [true, true],
    ]);
  });
});

describe('bench options', () => {
  it('parses --peer and --peer-rows, refuses other peers', () => {
    const o = parseBenchOptions(['--peer', 'pg_partman', '--peer-rows', '20k']);
    expect(o.peer).toBe('pg_partman');
    expect(o.peerRows).toBe(20_000);
    expect(parseBenchOptions([]).peer).toBeNull();
    expect(() => parseBenchOptions(['--peer', 'pg_pathman'])).toThrow(/pg_partman only/);
    expect(parseBenchOptions(['--only', 'scale']).only).toBe('scale');
    expect(() => parseBenchOptions(['--peer-rows', 'lots'])).toThrow(/--peer-rows/);
  });

  it('parses --plans: both by default, custom or generic, nothing else', () => {
    expect(parseBenchOptions([]).plans).toBe('both');
    expect(parseBenchOptions(['--plans', 'generic']).plans).toBe('generic');
    expect(parseBenchOptions(['--plans', 'custom']).plans).toBe('custom');
    expect(() => parseBenchOptions(['--plans', 'auto'])).toThrow(/--plans must be/);
  });
});
