import postgres from 'postgres';
import { quoteQualified } from '../../src/sql/identifiers.js';

/**
 * Application writers for the side-by-side: each on its own connection, one INSERT every 5 ms.
 * Two measures of how long a writer was held up, both per writer:
 * - its own statement latency (client wall time of each INSERT, max and p99): what the app sees;
 * - the server's view: a sampler on a third connection reads pg_locks every 10 ms and keeps, per
 *   writer, the longest `clock_timestamp() - waitstart` of a lock it had not been granted. A
 *   sample can end up to one period before the wait does, so this is a lower bound; the latency
 *   is the upper bound (it adds the insert itself and the round trip).
 */

export interface WriterTarget {
  name: string;
  schema: string;
  table: string;
  /** The sequence the ids come from. */
  sequence: string;
  /** Where its rows land: a month with no partition (DEFAULT) or an existing month. */
  from: Date;
  to: Date;
}

export interface WriterFigures {
  name: string;
  statements: number;
  errors: number;
  firstError: string | null;
  maxLatencyMs: number;
  p99LatencyMs: number;
  /** Longest lock wait seen in pg_locks (sampled every 10 ms). */
  maxLockWaitMs: number;
  /**
   * Whom the writer waited behind at the sample of its longest wait, as pg_blocking_pids and
   * pg_stat_activity showed them, with whom each of those waited behind in turn; null when it
   * never waited.
   */
  longestWaitBehind?: string | null;
}

const PERIOD_MS = 5;
const SAMPLE_MS = 10;

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export interface RunningWriters {
  /** Forget what was measured so far (the warm-up). */
  reset(): void;
  stop(): Promise<WriterFigures[]>;
}

export async function startWriters(
  url: string,
  targets: readonly WriterTarget[],
): Promise<RunningWriters> {
  let stopped = false;
  const clients = targets.map(() => postgres(url, { max: 1, onnotice: () => {} }));
  const sampler = postgres(url, { max: 1, onnotice: () => {} });
  const pids: number[] = [];
  for (const client of clients) {
    const [row] = await client<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    pids.push(row?.pid ?? 0);
  }
  const state = targets.map((t) => ({
    name: t.name,
    latencies: [] as number[],
    errors: 0,
    firstError: null as string | null,
    maxLockWaitMs: 0,
    longestWaitBehind: null as string | null,
  }));

  const loops = targets.map(async (t, i) => {
    const client = clients[i] as postgres.Sql;
    const s = state[i] as (typeof state)[number];
    const span = t.to.getTime() - t.from.getTime();
    const statement = `INSERT INTO ${quoteQualified(t.schema, t.table)} (id, occurred_at, payload)
      VALUES (nextval('${quoteQualified(t.schema, t.sequence).replaceAll("'", "''")}'), $1::timestamptz, 'writer')`;
    while (!stopped) {
      const at = new Date(t.from.getTime() + Math.floor(Math.random() * span));
      const started = performance.now();
      try {
        await client.unsafe(statement, [at.toISOString()]);
      } catch (error) {
        s.errors += 1;
        s.firstError ??= String(error).slice(0, 200);
      }
      const took = performance.now() - started;
      s.latencies.push(took);
      await sleep(Math.max(0, PERIOD_MS - took));
    }
  });

  const sampling = (async () => {
    while (!stopped) {
      // Who a waiting writer is behind, and who that one is behind: a blocker described by its
      // pid, kind, what it waits for and its statement.
      const rows = await sampler<{ pid: number; ms: number; behind: string | null }[]>`
        WITH waiting AS (
          SELECT pid, (extract(epoch FROM clock_timestamp() - waitstart) * 1000)::float8 AS ms
          FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL AND pid = ANY(${pids}))
        SELECT w.pid, w.ms,
               (SELECT string_agg(
                  format('%s %s %s [%s%s] %s', a.pid, a.backend_type, a.application_name,
                         coalesce(a.state, ''),
                         CASE WHEN a.wait_event IS NOT NULL
                              THEN format(', waits %s/%s', a.wait_event_type, a.wait_event) ELSE '' END,
                         left(regexp_replace(coalesce(a.query, ''), '[[:space:]]+', ' ', 'g'), 90))
                  || coalesce((SELECT ' <- behind: ' || string_agg(
                                 format('%s %s %s [%s] %s', b.pid, b.backend_type,
                                        b.application_name, coalesce(b.state, ''),
                                        left(regexp_replace(coalesce(b.query, ''), '[[:space:]]+', ' ', 'g'), 90)),
                                 '; ')
                               FROM pg_stat_activity b WHERE b.pid = ANY(pg_blocking_pids(a.pid))), ''),
                  ' | ')
                FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids(w.pid))) AS behind
        FROM waiting w`;
      for (const row of rows) {
        const s = state[pids.indexOf(row.pid)];
        if (s && Number(row.ms) > s.maxLockWaitMs) {
          s.maxLockWaitMs = Number(row.ms);
          s.longestWaitBehind = row.behind;
        }
      }
      await sleep(SAMPLE_MS);
    }
  })();

  return {
    reset() {
      for (const s of state) {
        s.latencies = [];
        s.errors = 0;
        s.firstError = null;
        s.maxLockWaitMs = 0;
        s.longestWaitBehind = null;
      }
    },
    async stop() {
      stopped = true;
      await Promise.all([...loops, sampling]);
      await Promise.all([...clients, sampler].map((c) => c.end({ timeout: 5 })));
      return state.map((s) => {
        const sorted = [...s.latencies].sort((a, b) => a - b);
        const at = (p: number) =>
          sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0;
        const r = (v: number) => Math.round(v * 10) / 10;
        return {
          name: s.name,
          statements: sorted.length,
          errors: s.errors,
          firstError: s.firstError,
          maxLatencyMs: r(sorted[sorted.length - 1] ?? 0),
          p99LatencyMs: r(at(0.99)),
          maxLockWaitMs: r(s.maxLockWaitMs),
          longestWaitBehind: s.longestWaitBehind,
        };
      });
    },
  };
}

/** Runs `work` with the writers on (after a 300 ms warm-up) and returns its time and theirs. */
export async function withWriters<T>(
  url: string,
  targets: readonly WriterTarget[],
  work: () => Promise<T>,
): Promise<{ result: T; ms: number; writers: WriterFigures[] }> {
  const writers = await startWriters(url, targets);
  try {
    await sleep(300);
    writers.reset();
    const started = performance.now();
    const result = await work();
    const ms = performance.now() - started;
    await sleep(300);
    return { result, ms: Math.round(ms * 10) / 10, writers: await writers.stop() };
  } catch (error) {
    await writers.stop();
    throw error;
  }
}
