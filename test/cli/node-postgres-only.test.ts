import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { useTestDatabase } from '../support/test-database.js';
import { type CliRun, REPO_ROOT, runNode } from './run-cli.js';

/**
 * The bundled CLI installed where only node-postgres is: a folder whose node_modules has `pg`
 * and not `postgres` (pgparts as a package of its own beside it, the app in a folder of its own
 * without a config). --help and generate need no driver; migrate goes through pg; with neither
 * driver, the commands that connect say what to install. Each case is a separate process.
 */
const root = mkdtempSync(join(tmpdir(), 'pgparts-pg-only-'));
const modules = join(root, 'node_modules');
const pkg = join(root, 'pgparts');
const app = join(root, 'app');
mkdirSync(modules);
mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
mkdirSync(app);
for (const dep of ['pg', 'drizzle-orm', 'commander', 'zod', 'jiti']) {
  symlinkSync(join(REPO_ROOT, 'node_modules', dep), join(modules, dep));
}
// The runner finds pgparts's own migrations, and the CLI its package.json (--version), two
// folders up from the CLI, as in the package.
copyFileSync(inject('cliBundle'), join(pkg, 'dist', 'cli', 'index.mjs'));
symlinkSync(join(REPO_ROOT, 'drizzle'), join(pkg, 'drizzle'));
symlinkSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const t = useTestDatabase({ migrated: false });

function cli(args: string[], url?: string): Promise<CliRun> {
  return runNode([join(pkg, 'dist', 'cli', 'index.mjs'), ...args], { DATABASE_URL: url }, app);
}

describe('the CLI without postgres.js', () => {
  it('--help needs no driver', async () => {
    const help = await cli(['--help']);
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('migrate');
  });

  it('migrate connects through node-postgres', async () => {
    const run = await cli(['migrate'], t.url);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('applied pgparts 0000_extensions');
    const [row] = await t.sql<
      { app: string }[]
    >`SELECT to_regclass('leaderboard_run')::text AS app`;
    expect(row?.app).toBe('leaderboard_run');
  });

  it('an endpoint that closes the connection without a word, or says nothing: exit 1 naming which', async () => {
    let accepted = 0;
    let silent = false;
    const held: Socket[] = [];
    const endpoint = createServer((socket) => {
      accepted += 1;
      socket.on('error', () => {});
      socket.resume();
      if (silent) held.push(socket);
      else socket.end();
    });
    await new Promise<void>((done) => endpoint.listen(0, '127.0.0.1', done));
    try {
      const address = endpoint.address();
      const url = new URL(t.url);
      url.hostname = '127.0.0.1';
      url.port = String(typeof address === 'object' && address ? address.port : 0);
      const run = await cli(['--connect-timeout', '3', 'status'], url.toString());
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      // The line after the one that says the built-in families are used (no config here).
      const lines = run.stderr.trim().split('\n');
      expect(lines, run.stderr).toHaveLength(2);
      expect(lines[0]).toMatch(/^pgparts: no pgparts config in /);
      expect(lines[1]).toBe(
        `pgparts: cannot reach the database (127.0.0.1:${url.port}): the other end accepted the connection and closed it before it was set up, without a word (a proxy, load balancer or port-forward with no PostgreSQL server behind it?) [CLOSED_UNANSWERED]`,
      );
      expect(accepted).toBeGreaterThan(0);
      expect(accepted).toBeLessThanOrEqual(4);
      // Silent: the connect timeout, said as such (not as a connection that was lost).
      silent = true;
      const quiet = await cli(['--connect-timeout', '1', 'status'], url.toString());
      expect(quiet.code).toBe(1);
      expect(quiet.stderr.trim().split('\n')[1]).toBe(
        `pgparts: cannot reach the database (127.0.0.1:${url.port}): the server did not answer the connection within the connect timeout [CONNECT_TIMEOUT]`,
      );
    } finally {
      await new Promise((done) => endpoint.close(done));
      for (const socket of held) socket.destroy();
    }
  });

  it('with neither driver, generate still runs and migrate says what to install', async () => {
    rmSync(join(modules, 'pg'));
    const generate = await cli(['generate']);
    expect(generate.code).toBe(1);
    expect(generate.stderr).toMatch(/^pgparts: generate: no pgparts config in /);
    const migrate = await cli(['migrate'], t.url);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain(
      'pgparts: the pgparts command connects through postgres.js or node-postgres, and neither is installed here; install one in the app: npm install postgres (or npm install pg)',
    );
  });
});
