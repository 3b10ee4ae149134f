import { Worker } from 'node:worker_threads';

/**
 * Application writers for the side-by-side: each on its own connection, one INSERT every 5 ms.
 * Two measures of how long a writer was held up, both per writer:
 * - its own statement latency (client wall time of each INSERT, max and p99): what the app sees;
 * - the server's view: a sampler on a third connection reads pg_locks every 10 ms and keeps, per
 *   writer, the longest `clock_timestamp() - waitstart` of a lock it had not been granted. A
 *   sample can end up to one period before the wait does, so this is a lower bound; the latency
 *   is the upper bound (it adds the insert itself and the round trip).
 * Both run in a worker thread (writer-loops.ts), apart from the tool measured: they stand for the
 * app's other clients, and a pause of the measuring thread's event loop must not read as theirs.
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

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export interface RunningWriters {
  /** Forget what was measured so far (the warm-up). */
  reset(): void;
  stop(): Promise<WriterFigures[]>;
}

/**
 * Starts the writers and their sampler in a worker thread (writer-loops.ts), so that they keep
 * their pace whatever the tool measured does on this thread.
 */
export async function startWriters(
  url: string,
  targets: readonly WriterTarget[],
): Promise<RunningWriters> {
  const worker = startWorker();
  const replies: ((value: unknown) => void)[] = [];
  let failed: unknown = null;
  worker.on('message', (message: unknown) => replies.shift()?.(message));
  worker.on('error', (error) => {
    failed = error;
    for (const reply of replies.splice(0)) reply({ error: String(error) });
  });
  const ask = (message: WorkerRequest) =>
    new Promise<unknown>((done, fail) => {
      if (failed) {
        fail(failed);
        return;
      }
      replies.push((reply) => {
        if (reply && typeof reply === 'object' && 'error' in reply)
          fail(new Error(String(reply.error)));
        else done(reply);
      });
      worker.postMessage(message);
    });
  await ask({ kind: 'start', url, targets: [...targets] });
  return {
    reset() {
      worker.postMessage({ kind: 'reset' } satisfies WorkerRequest);
    },
    async stop() {
      try {
        return (await ask({ kind: 'stop' })) as WriterFigures[];
      } finally {
        await worker.terminate();
      }
    },
  };
}

/** What the writers' thread is asked (writers-worker.ts); each but `reset` gets one reply. */
export type WorkerRequest =
  | { kind: 'start'; url: string; targets: WriterTarget[] }
  | { kind: 'reset' }
  | { kind: 'stop' };

/**
 * The worker, its TypeScript loaded as the bench's is (tsx, registered in the thread before its
 * module is imported: a worker does not inherit the loader of `tsx bench/...`).
 */
function startWorker(): Worker {
  const entry = new URL('./writers-worker.ts', import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
    { eval: true },
  );
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
