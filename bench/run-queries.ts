import type { QueryOptions } from '../src/query/prepared.js';
import type { AnyPgDatabase } from '../src/run/database.js';
import type { Params } from './params.js';
import { progressBar } from './progress.js';
import type { BenchQuery } from './queries.js';
import { type Latency, latency } from './stats.js';

export interface QueryResult {
  name: string;
  prunes: boolean;
  targetMs: number;
  partitioned: Latency;
  unpartitioned: Latency;
  /** partitioned p95 / unpartitioned p95 */
  ratioP95: number;
  /** Calls whose row counts differed between the sides (same SQL, same rows: should be 0). */
  rowMismatches: number;
  meanRows: number;
}

const WARMUP = 10;

/**
 * Each query `iterations` times per side, the i-th call of both sides with the same parameters,
 * the side that goes first alternating. Latency is wall time in the app (postgres.js through
 * Drizzle, which sends each query unnamed unless `options.prepare`; parsing of the rows
 * included), measured with performance.now().
 */
export async function runQueries(
  queries: readonly BenchQuery[],
  sides: { partitioned: AnyPgDatabase; unpartitioned: AnyPgDatabase },
  params: Params,
  iterations: number,
  options: QueryOptions = {},
  title = 'hot queries, both sides',
): Promise<QueryResult[]> {
  const results: QueryResult[] = [];
  const bar = progressBar(title, queries.length * (iterations + WARMUP));
  let done = 0;
  for (const query of queries) {
    const samples = { partitioned: [] as number[], unpartitioned: [] as number[] };
    let mismatches = 0;
    let rows = 0;
    for (let i = 0; i < iterations + WARMUP; i += 1) {
      const order =
        i % 2 === 0
          ? (['partitioned', 'unpartitioned'] as const)
          : (['unpartitioned', 'partitioned'] as const);
      const counts: Record<string, number> = {};
      for (const side of order) {
        const started = performance.now();
        const outcome = await query.run(sides[side], params, i, options);
        const ms = outcome.ms ?? performance.now() - started;
        if (i >= WARMUP) samples[side].push(ms);
        counts[side] = outcome.rows;
      }
      if (counts.partitioned !== counts.unpartitioned) mismatches += 1;
      rows += counts.partitioned ?? 0;
      bar.tick(++done);
    }
    const partitioned = latency(samples.partitioned);
    const unpartitioned = latency(samples.unpartitioned);
    results.push({
      name: query.name,
      prunes: query.prunes,
      targetMs: query.targetMs,
      partitioned,
      unpartitioned,
      ratioP95: Math.round((partitioned.p95 / unpartitioned.p95) * 100) / 100,
      rowMismatches: mismatches,
      meanRows: Math.round((rows / (iterations + WARMUP)) * 10) / 10,
    });
  }
  bar.done();
  return results;
}
