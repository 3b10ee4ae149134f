import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { serversDir, sweepLeftoverServers } from '../../scripts/embedded-server.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** Where the test server lives (test/support/server.ts), and so the orphan here. */
const SERVERS = serversDir(true);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('a PostgreSQL left behind by a killed run', () => {
  it('is stopped and its directory removed by the next start', async () => {
    // A run that starts a server and is then killed with SIGKILL: no teardown runs.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        "import('./scripts/embedded-server.ts').then((m) => m.startEmbeddedServer({ purpose: 'orphan', inMemory: true, initdbFrom: process.env.PGPARTS_INITDB_FROM })).then(() => { console.log('READY'); setInterval(() => {}, 1000); })",
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, PGPARTS_INITDB_FROM: inject('initdbImage') },
      },
    );
    await new Promise<void>((ready, fail) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('READY')) ready();
      });
      child.on('exit', (code) => fail(new Error(`server process exited early (${code})`)));
    });
    const dir = join(SERVERS, `orphan-${child.pid}`);
    const postmaster = Number.parseInt(
      readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8'),
      10,
    );
    child.kill('SIGKILL');
    await new Promise((resolveExit) => child.once('exit', resolveExit));
    expect(alive(postmaster)).toBe(true); // the orphan: still running, holding its directory

    sweepLeftoverServers();
    for (let i = 0; i < 100 && alive(postmaster); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(postmaster)).toBe(false);
    expect(existsSync(dir)).toBe(false);
    // The servers of live runs (this test run's own) are left alone.
    expect(readdirSync(SERVERS).some((d) => d.startsWith('test-'))).toBe(!process.env.DATABASE_URL);
  }, 60_000);
});
