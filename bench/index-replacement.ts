import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import {
  buildIndexOnline,
  dropIndex,
  type IndexBuildEvent,
  type OnlineIndexSpecInput,
} from '../src/ops/online-index.js';
import { latency } from './stats.js';

/**
 * A changed index on killmails_raw, two ways, with the app on: two writers inserting every 5 ms
 * and a reader of that index's query every 100 ms, each on its own connection. First the way a
 * drizzle-kit DROP INDEX followed by an online build goes (the table without the index for the
 * build); then `buildIndexOnline(..., { replace: true })` (built beside it, swapped in), to a
 * definition with one column more and back again, which leaves the data set as it was.
 */

const INDEX = 'idx_killmails_raw_ship_type_time';
const ORIGINAL: OnlineIndexSpecInput = {
  table: 'killmails_raw',
  name: INDEX,
  columns: ['ship_type_id', { column: 'killmail_time', order: 'desc', nulls: 'first' }],
};
const WIDER: OnlineIndexSpecInput = {
  ...ORIGINAL,
  columns: [...ORIGINAL.columns, { column: 'killmail_id', order: 'desc' }],
};
/** Writers' ids start here: far above the generated ones, removed at the end. */
const FIRST_WRITER_ID = 9_000_000_000;

export interface IndexChangeFigure {
  how: string;
  totalMs: number;
  /** The replacement's swap transaction, as the client timed it (one round trip); null: none. */
  swapMs: number | null;
  writersLongestInsertMs: number;
  writersLongestLockWaitMs: number;
  writersInserts: number;
  readerCalls: number;
  readerP50Ms: number;
  readerP95Ms: number;
  readerMaxMs: number;
}

export interface IndexReplacementResult {
  partitions: number;
  rows: number;
  changes: IndexChangeFigure[];
}

interface Loop {
  stop(): Promise<void>;
}

/** `work` every `pauseMs` on a connection of its own until stopped. */
function loop(url: string, pauseMs: number, work: (sql: postgres.Sql) => Promise<void>): Loop {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  let running = true;
  const done = (async () => {
    while (running) {
      await work(sql);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      await sql.end();
    },
  };
}

async function withAppRunning(
  url: string,
  work: (db: ReturnType<typeof drizzle>) => Promise<number | null>,
  how: string,
): Promise<IndexChangeFigure> {
  const writers = { longest: 0, inserts: 0, pids: [] as number[] };
  let id = FIRST_WRITER_ID + Math.floor(Math.random() * 1_000_000) * 1_000;
  const writerLoops = [1, 2].map(() => {
    let known = false;
    return loop(url, 5, async (sql) => {
      if (!known) {
        known = true;
        writers.pids.push(Number((await sql`SELECT pg_backend_pid() AS pid`)[0]?.pid));
      }
      const started = performance.now();
      id += 1;
      await sql`INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
                VALUES (${id}, now(), 30000142, 587, '{}'::jsonb)`;
      writers.longest = Math.max(writers.longest, performance.now() - started);
      writers.inserts += 1;
    });
  });
  const reads: number[] = [];
  const reader = loop(url, 100, async (sql) => {
    const started = performance.now();
    await sql`SELECT killmail_id FROM killmails_raw WHERE ship_type_id = 587
              ORDER BY killmail_time DESC LIMIT 50`;
    reads.push(performance.now() - started);
  });
  // Lock waits as the server shows them (pg_locks.waitstart), every 10 ms: a lower bound.
  let longestWait = 0;
  const sampler = loop(url, 10, async (sql) => {
    const rows = await sql<{ ms: number | null }[]>`
      SELECT (extract(epoch FROM clock_timestamp() - waitstart) * 1000)::float8 AS ms
      FROM pg_locks WHERE NOT granted AND pid = ANY(${writers.pids}::int[])`;
    for (const row of rows) longestWait = Math.max(longestWait, Number(row.ms ?? 0));
  });
  const client = postgres(url, { max: 1, onnotice: () => {} });
  const started = performance.now();
  let swapMs: number | null;
  try {
    swapMs = await work(drizzle(client));
  } finally {
    for (const l of [...writerLoops, reader, sampler]) await l.stop();
    await client.end();
  }
  const totalMs = performance.now() - started;
  const round = (ms: number) => Math.round(ms * 10) / 10;
  const read = latency(reads);
  return {
    how,
    totalMs: round(totalMs),
    swapMs: swapMs === null ? null : round(swapMs),
    writersLongestInsertMs: round(writers.longest),
    writersLongestLockWaitMs: round(longestWait),
    writersInserts: writers.inserts,
    readerCalls: reads.length,
    readerP50Ms: round(read.p50),
    readerP95Ms: round(read.p95),
    readerMaxMs: round(read.max),
  };
}

/** Times the replace-index statement: from when it is sent to the next statement's event. */
function swapTimer() {
  let sentAt: number | null = null;
  let swapMs: number | null = null;
  return {
    onProgress: (event: IndexBuildEvent) => {
      if (event.kind !== 'statement') return;
      if (sentAt !== null && swapMs === null) swapMs = performance.now() - sentAt;
      if (event.statement === 'replace-index') sentAt = performance.now();
    },
    swapMs: () => swapMs,
  };
}

export async function indexReplacement(
  url: string,
  sql: postgres.Sql,
): Promise<IndexReplacementResult> {
  const [shape] = await sql<{ partitions: number; rows: number }[]>`
    SELECT (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'killmails_raw'::regclass) AS partitions,
           (SELECT count(*)::int FROM killmails_raw) AS rows`;
  const changes: IndexChangeFigure[] = [];
  try {
    changes.push(
      await withAppRunning(
        url,
        async (db) => {
          await dropIndex(db, { schema: 'public', name: INDEX });
          await buildIndexOnline(db, ORIGINAL);
          return null;
        },
        'DROP INDEX, then an online build (drizzle-kit DROP INDEX, then -- pgparts:create-index-online)',
      ),
    );
    for (const [spec, how] of [
      [WIDER, 'replaced online, one column added (-- pgparts:replace-index-online)'],
      [ORIGINAL, 'replaced online, back to the original definition'],
    ] as const) {
      const timer = swapTimer();
      changes.push(
        await withAppRunning(
          url,
          async (db) => {
            await buildIndexOnline(db, spec, { replace: true, onProgress: timer.onProgress });
            return timer.swapMs();
          },
          how,
        ),
      );
    }
  } finally {
    await sql`DELETE FROM killmails_raw WHERE killmail_id >= ${FIRST_WRITER_ID}`;
  }
  return { partitions: shape?.partitions ?? 0, rows: shape?.rows ?? 0, changes };
}
