import { describe, expect, it } from 'vitest';
import { killmailChunks, utcMonth } from '../../bench/generate/killmails.js';
import { scaleFor } from '../../bench/generate/scale.js';
import { parseBenchOptions, parseScale } from '../../bench/options.js';
import { benchSettings } from '../../bench/server.js';
import { latency, percentile } from '../../bench/stats.js';

describe('bench data plan', () => {
  it('parses --scale', () => {
    expect(parseScale('1m')).toBe(1_000_000);
    expect(parseScale('10M')).toBe(10_000_000);
    expect(parseScale('250k')).toBe(250_000);
    expect(parseScale('40000')).toBe(40_000);
    expect(() => parseScale('lots')).toThrow(/--scale/);
  });

  it("runs the server with PostgreSQL's jit unless --jit off", () => {
    expect(parseBenchOptions([]).jit).toBe('on');
    expect(benchSettings('on')).not.toHaveProperty('jit');
    expect(parseBenchOptions(['--jit', 'off']).jit).toBe('off');
    expect(benchSettings('off')).toMatchObject({ jit: 'off' });
    expect(() => parseBenchOptions(['--jit', 'maybe'])).toThrow(/--jit must be on or off/);
  });

  it('gives the issue figures at the default scale', () => {
    const s = scaleFor(1_000_000);
    expect(s.runs).toBe(200_000);
    expect(s.runs * s.membersPerRun).toBe(1_000_000);
    expect(s.characters + s.corporations + s.alliances + s.systems).toBeGreaterThanOrEqual(100_000);
  });

  it('spreads the killmails over 13 UTC months in chunks that never cross a month', () => {
    const now = new Date('2026-11-21T06:00:00Z');
    for (const killmails of [20_000, 1_000_000, 10_000_000]) {
      const s = scaleFor(killmails);
      const chunks = killmailChunks(s, now);
      expect(chunks.reduce((sum, c) => sum + c.count, 0)).toBe(killmails);
      expect(chunks.every((c) => c.count <= s.chunk)).toBe(true);
      for (const c of chunks)
        expect(utcMonth(c.from).getTime()).toBe(utcMonth(new Date(c.to.getTime() - 1)).getTime());
      const months = new Set(chunks.map((c) => utcMonth(c.from).toISOString()));
      expect(months.size).toBe(13);
      expect(chunks[0]?.from.toISOString()).toBe('2025-11-01T00:00:00.000Z');
      expect(chunks.at(-1)?.to.getTime()).toBe(now.getTime());
      // ids are consecutive across chunks
      chunks.slice(1).forEach((c, i) => {
        const prev = chunks[i];
        expect(c.firstId).toBe((prev?.firstId ?? 0) + (prev?.count ?? 0));
      });
    }
  });

  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 95)).toBe(95);
    expect(latency([3, 1, 2])).toMatchObject({ n: 3, p50: 2, p99: 3, max: 3 });
  });
});
