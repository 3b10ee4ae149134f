import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { inject } from 'vitest';
import { isAlive, serversDir, startEmbeddedServer } from '../../scripts/embedded-server.js';
import { withDatabase } from './urls.js';

/**
 * A PostgreSQL of a test file's own, to crash: `crash()` SIGKILLs its postmaster (as a power
 * cut or the OOM killer would; the backends die with it), `restart()` starts a new postmaster
 * on the same data directory, which runs crash recovery. Other test files never see it.
 */
export interface CrashableServer {
  /** The url of the current postmaster's `postgres` database (the port changes on restart). */
  url(): string;
  crash(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startCrashableServer(purpose: string): Promise<CrashableServer> {
  // Under the servers directory, with the owner's pid: a killed test run's leftovers are swept.
  // In memory like the test server's: a SIGKILL of the postmaster leaves the files as they were
  // written, on /dev/shm as on a disk, since the machine itself goes on.
  const dir = join(serversDir(true), `${purpose}-${process.pid}`);
  const start = () =>
    startEmbeddedServer({
      purpose,
      dataDir: dir,
      settings: { max_connections: 60 },
      initdbFrom: inject('initdbImage'),
    });
  let server = await start();
  const postmasterPid = () =>
    Number(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    url: () => withDatabase(server.url, 'postgres'),
    async crash() {
      const pid = postmasterPid();
      process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(20);
    },
    async restart() {
      // Backends notice their postmaster is gone and exit; a new one starts once they have.
      let lastError: unknown;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          server = await start();
          const probe = postgres(server.url, { max: 1, onnotice: () => {} });
          await probe`SELECT 1`;
          await probe.end();
          return;
        } catch (error) {
          lastError = error;
          await sleep(500);
        }
      }
      throw lastError;
    },
    async stop() {
      await Promise.race([server.stop().catch(() => {}), sleep(10_000)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls `server` through a connection of its own until `query` returns a row: the server says
 * when a command reached a phase. A query on a table the command has not created yet is "not
 * yet", not an error.
 */
export async function untilServerSays(server: CrashableServer, query: string): Promise<void> {
  const probe = postgres(server.url(), { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; i < 6_000; i++) {
      const rows = await probe.unsafe(query).catch(() => []);
      if (rows.length > 0) return;
      await sleep(10);
    }
    throw new Error(`never true: ${query}`);
  } finally {
    await probe.end({ timeout: 1 }).catch(() => {});
  }
}

/**
 * Kills `server` under a running command once `when` returns a row, waits for the command to
 * end, and restarts the server. `close` ends the test's own pool first (its connections die with
 * the server); reconnect after. Returns the killed command's run.
 */
export async function crashWhen<T>(
  server: CrashableServer,
  run: Promise<T>,
  when: string,
  close: () => Promise<unknown>,
): Promise<T> {
  await untilServerSays(server, when);
  await close().catch(() => {});
  await server.crash();
  const killed = await run;
  await server.restart();
  return killed;
}
