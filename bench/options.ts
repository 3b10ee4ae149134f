import { parseArgs } from 'node:util';
import { BenchError } from './bench-error.js';

export interface BenchOptions {
  /** Killmails to generate; the results are named after `label`. */
  killmails: number;
  label: string;
  only: 'all' | 'queries' | 'maintenance' | 'conversion' | 'scale';
  iterations: number;
  /**
   * How the hot queries are sent: unnamed, planned on every call with their values (custom, what
   * Drizzle does), prepared with generic plans (`prepare: true` on connections with
   * plan_cache_mode = force_generic_plan), or both, one after the other.
   */
  plans: 'custom' | 'generic' | 'both';
  keep: boolean;
  /** jit for the bench's server: PostgreSQL's default (on), or off (--jit off). */
  jit: 'on' | 'off';
  /** --peer pg_partman: the side-by-side on the distribution's PostgreSQL, nothing else. */
  peer: 'pg_partman' | null;
  /** Rows the side-by-side moves out of DEFAULT (--peer-rows; history, stray rows scale with it). */
  peerRows: number;
  peerLabel: string;
}

const USAGE = `npm run bench -- [--scale 1m|10m|<killmails>] [--only queries|maintenance|conversion|scale]
                      [--iterations N] [--plans both|custom|generic] [--keep] [--jit on|off]
       npm run bench -- --peer pg_partman [--peer-rows 1m|20k|<rows>]`;

const PLANS = ['both', 'custom', 'generic'] as const;

const ONLY = ['all', 'queries', 'maintenance', 'conversion', 'scale'] as const;

/** "1m" -> 1_000_000, "10m" -> 10_000_000, "250k" -> 250_000, "40000" -> 40_000. */
export function parseScale(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match)
    throw new BenchError(`bench: --scale must be like 1m, 10m or a number, not "${text}"`);
  const factor = { '': 1, k: 1_000, m: 1_000_000 }[(match[2] ?? '').toLowerCase()] ?? 1;
  const value = Math.round(Number(match[1]) * factor);
  if (value < 1_000) throw new BenchError('bench: --scale must be at least 1000 killmails');
  return value;
}

function parsePeerRows(text: string): number {
  try {
    return parseScale(text);
  } catch {
    throw new BenchError(
      `bench: --peer-rows must be like 1m, 20k or a number of 1000 or more, not "${text}"`,
    );
  }
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scale: { type: 'string', default: '1m' },
      only: { type: 'string' },
      iterations: { type: 'string', default: '300' },
      plans: { type: 'string', default: 'both' },
      keep: { type: 'boolean', default: false },
      jit: { type: 'string', default: 'on' },
      peer: { type: 'string' },
      'peer-rows': { type: 'string', default: '1m' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const only = values.only ?? 'all';
  if (!(ONLY as readonly string[]).includes(only)) {
    throw new BenchError(
      `bench: --only must be queries, maintenance, conversion or scale, not "${only}"\n${USAGE}`,
    );
  }
  if (values.peer !== undefined && values.peer !== 'pg_partman') {
    throw new BenchError(`bench: --peer knows pg_partman only, not "${values.peer}"\n${USAGE}`);
  }
  if (!(PLANS as readonly string[]).includes(values.plans)) {
    throw new BenchError(
      `bench: --plans must be both, custom or generic, not "${values.plans}"\n${USAGE}`,
    );
  }
  if (values.jit !== 'on' && values.jit !== 'off') {
    throw new BenchError(`bench: --jit must be on or off, not "${values.jit}"\n${USAGE}`);
  }
  const peerRows = values['peer-rows'].toLowerCase();
  const iterations = Number(values.iterations);
  if (!Number.isSafeInteger(iterations) || iterations < 10) {
    throw new BenchError('bench: --iterations must be a whole number of 10 or more');
  }
  const scale = values.scale.toLowerCase();
  return {
    killmails: parseScale(scale),
    label: scale,
    only: only as BenchOptions['only'],
    iterations,
    plans: values.plans as BenchOptions['plans'],
    keep: values.keep,
    jit: values.jit,
    peer: values.peer === 'pg_partman' ? 'pg_partman' : null,
    peerRows: parsePeerRows(peerRows),
    peerLabel: peerRows,
  };
}
