import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_CONNECT_TIMEOUT_S, databaseUrlProblem } from '../../src/cli/connection.js';
import { pgparts, REPO_ROOT } from '../cli/run-cli.js';

const SECRET = 'N0t-For-Logs';

/** A TCP listener that accepts every connection and never writes a byte. */
let silent: Server;
let port = 0;
const sockets: Socket[] = [];

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
  const address = silent.address();
  port = typeof address === 'object' && address ? address.port : 0;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((done) => silent.close(done));
});

describe('connecting', () => {
  it('defaults to a connect timeout of at most 10 s', () => {
    expect(DEFAULT_CONNECT_TIMEOUT_S).toBeLessThanOrEqual(10);
  });

  it('status against a server that accepts TCP and never answers exits 1 with one line', async () => {
    const url = `postgres://app:${SECRET}@127.0.0.1:${port}/db`;
    const run = await pgparts(url, '--connect-timeout', '1', 'status');
    expect(run.code).toBe(1);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('cannot reach the database');
    expect(lines[0]).toContain('CONNECT_TIMEOUT');
    expect(run.stderr).not.toContain(SECRET);
    // It did reach the listener: the timeout is the startup handshake's, not a refused TCP.
    expect(sockets.length).toBeGreaterThan(0);
  });

  it('Ctrl-C (SIGINT) while it waits: one line on stderr and exit 130, as a signal gives', async () => {
    const before = sockets.length;
    const child = spawn(
      process.execPath,
      [inject('cliBundle'), '--connect-timeout', '60', 'status'],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: `postgres://app:${SECRET}@127.0.0.1:${port}/db` },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const closed = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
    // Once the listener holds its connection, the command is waiting on the server.
    for (let i = 0; i < 600 && sockets.length === before; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(sockets.length).toBeGreaterThan(before);
    child.kill('SIGINT');
    expect(await closed).toBe(130);
    expect(stderr.trim().split('\n')).toEqual([
      'pgparts: interrupted (SIGINT); what ran in a transaction was rolled back, and a drain, retire or conversion continues where it stopped when run again',
    ]);
  });

  it('a refused connection is one line too', async () => {
    // A port nothing listens on: close a listener and reuse its port.
    const probe = createServer();
    await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
    const address = probe.address();
    const closedPort = typeof address === 'object' && address ? address.port : 0;
    await new Promise((done) => probe.close(done));
    const run = await pgparts(`postgres://app:${SECRET}@127.0.0.1:${closedPort}/db`, 'plan');
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.stderr).not.toContain(SECRET);
  });

  it('a malformed URL names the problem and never prints the password', async () => {
    const cases: [string, RegExp][] = [
      [`postgres://app:${SECRET}#x@db:5432/x`, /percent-encode/],
      [`postgres://app:${SECRET}@x@db:5432/x`, /contains "@"/],
      [`postgres://app:${SECRET}@db:54x2/x`, /port .* not a number/],
      [`mysql://app:${SECRET}@db/x`, /use postgres:\/\//],
      [`app:${SECRET}@db/x`, /must look like postgres:\/\//],
      [`postgres://app:${SECRET}%zz@db/x`, /%25/],
    ];
    for (const [url, expected] of cases) {
      const problem = databaseUrlProblem(url);
      expect(problem, url).toMatch(expected);
      expect(problem).not.toContain(SECRET);
    }
    expect(
      databaseUrlProblem('postgres://app:p%40ss@h1:5432,h2:5433/db?sslmode=disable'),
    ).toBeNull();
    expect(databaseUrlProblem('postgres://db:5432/x?options=a@b')).toBeNull();
    expect(databaseUrlProblem(`postgres://app:${SECRET}/x@db/x`)).toMatch(/percent-encode/);
    expect(databaseUrlProblem('postgres://a:b@db:5432/x?options=a@b#frag')).toBeNull();
    const run = await pgparts(`postgres://app:${SECRET}@db:54x2/x`, 'status');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('port of the database URL is not a number');
    expect(run.stderr).not.toContain('Invalid URL');
    expect(run.stderr).not.toContain(SECRET);
  });

  it('a password with an unencoded "@" and "#", and a port out of range, are named as such', async () => {
    // The URL parser ends the host at the "#": "ret" (a piece of the password) was looked up
    // as the host name, and 99999 got the generic "percent-encode" line.
    const both = await pgparts('postgres://postgres:sec@ret#pw@127.0.0.1:5432/app', 'status');
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('contains "@" and "#"; percent-encode them (%40, %23)');
    expect(both.stderr).not.toContain('ret#pw');
    expect(both.stderr).not.toContain('ENOTFOUND');
    const port = await pgparts(`postgres://app:${SECRET}@127.0.0.1:99999/app`, 'status');
    expect(port.code).toBe(1);
    expect(port.stderr.trim()).toBe(
      'pgparts: the port of the database URL is 99999, outside 1 to 65535 (host 127.0.0.1)',
    );
  });

  it('a host name that does not resolve is named in the line, without the password', async () => {
    const run = await pgparts(`postgres://app:${SECRET}@nohost.invalid:5432/db`, 'status');
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(
      /cannot reach the database \(nohost\.invalid\): .*\[(ENOTFOUND|EAI_AGAIN)\]/,
    );
    expect(run.stderr).not.toContain(SECRET);
  });
});
