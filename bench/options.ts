import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Killmails to generate; the results are named after `label`. */
  killmails: number;
  label: string;
  only: 'all' | 'queries' | 'maintenance' | 'conversion';
  iterations: number;
  keep: boolean;
}

const USAGE = `npm run bench -- [--scale 1m|10m|<killmails>] [--only queries|maintenance|conversion]
                      [--iterations N] [--keep]`;

/** "1m" -> 1_000_000, "10m" -> 10_000_000, "250k" -> 250_000, "40000" -> 40_000. */
export function parseScale(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match) throw new Error(`bench: --scale must be like 1m, 10m or a number, not "${text}"`);
  const factor = { '': 1, k: 1_000, m: 1_000_000 }[(match[2] ?? '').toLowerCase()] ?? 1;
  const value = Math.round(Number(match[1]) * factor);
  if (value < 1_000) throw new Error('bench: --scale must be at least 1000 killmails');
  return value;
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: '1m' },
      only: { type: 'string' },
      iterations: { type: 'string', default: '300' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const only = values.only ?? 'all';
  if (only !== 'all' && only !== 'queries' && only !== 'maintenance' && only !== 'conversion') {
    throw new Error(
      `bench: --only must be queries, maintenance or conversion, not "${only}"\n${USAGE}`,
    );
  }
  const iterations = Number(values.iterations);
  if (!Number.isSafeInteger(iterations) || iterations < 10) {
    throw new Error('bench: --iterations must be a whole number of 10 or more');
  }
  const scale = values.scale.toLowerCase();
  return {
    killmails: parseScale(scale),
    label: scale,
    only,
    iterations,
    keep: values.keep,
  };
}
