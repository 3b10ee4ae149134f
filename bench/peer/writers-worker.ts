import { parentPort } from 'node:worker_threads';
import { runWriterLoops } from './writer-loops.js';
import type { RunningWriters, WorkerRequest } from './writers.js';

/** The writers' thread: starts, resets and stops the loops as writers.ts asks, one reply each. */
let running: RunningWriters | null = null;
parentPort?.on('message', (request: WorkerRequest) => {
  const reply = (work: () => Promise<unknown>) =>
    work().then(
      (value) => parentPort?.postMessage(value ?? null),
      (error: unknown) => parentPort?.postMessage({ error: String(error) }),
    );
  if (request.kind === 'start')
    void reply(async () => {
      running = await runWriterLoops(request.url, request.targets);
    });
  else if (request.kind === 'reset') running?.reset();
  else void reply(async () => (running ? running.stop() : []));
});
