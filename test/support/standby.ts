import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  type Dirent,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './free-port.js';

export interface Standby {
  /** The admin URL's credentials, on the standby's port. */
  url(database: string): string;
  stop(): Promise<void>;
}

/** uid/gid of the `postgres` user when running as root (PostgreSQL refuses to run as root). */
function runAs(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** True for "no such file": a file the running server removed while it was being copied. */
function vanished(error: unknown): boolean {
  return (error as { code?: unknown }).code === 'ENOENT';
}

/**
 * Copies a file as far as it goes now. The server may shorten a file while it is copied (a
 * vacuum truncates a table and its free space map): the copy then ends early, and WAL replay
 * makes it consistent. Not copyFileSync: libuv copies the size it saw at the start, and when the
 * file ends sooner it asks for the rest forever (a test run hung on a free space map).
 */
function copyAsFarAsItGoes(source: string, target: string): void {
  const input = openSync(source, 'r');
  try {
    const output = openSync(target, 'w', 0o600);
    try {
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const read = readSync(input, buffer, 0, buffer.length, null);
        if (read === 0) break;
        writeSync(output, buffer, 0, read);
      }
    } finally {
      closeSync(output);
    }
  } finally {
    closeSync(input);
  }
}

/**
 * The data directory of a running server, copied as a base backup is: a file removed while the
 * copy runs (a database dropped by another test file) is skipped, as pg_basebackup skips it; WAL
 * replay from the backup's start makes the copy consistent.
 */
function copyLiveDirectory(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  let entries: Dirent[];
  try {
    entries = readdirSync(from, { withFileTypes: true });
  } catch (error) {
    if (vanished(error)) return;
    throw error;
  }
  for (const entry of entries) {
    if (/^postmaster\.(pid|opts)$/.test(entry.name)) continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      copyLiveDirectory(source, target);
      continue;
    }
    try {
      copyAsFarAsItGoes(source, target);
    } catch (error) {
      if (!vanished(error)) throw error;
    }
  }
}

/**
 * A hot standby of the server at `adminUrl`, started from a base backup taken with the low-level
 * API (pg_backup_start/stop on 15+, pg_start_backup/pg_stop_backup on 14) and a copy of the data
 * directory, streaming from the primary. The embedded servers have no pg_basebackup.
 *
 * A physical replication slot, reserved before the backup starts, keeps the primary's WAL from
 * the backup's start until the standby has streamed it (as pg_basebackup's slot does): without
 * it, other test files writing in the meantime can recycle the segment the standby needs first
 * ("requested WAL segment ... has already been removed"), and it never becomes ready. The slot
 * is dropped with the standby.
 */
export async function startStandby(adminUrl: string): Promise<Standby> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'pgparts-standby-'));
  const data = join(dir, 'data');
  const slot = `pgparts_standby_${process.pid}_${basename(dir).replace(/\W/g, '_').toLowerCase()}`;
  let slotCreated = false;
  let child: ChildProcess | undefined;
  const dropSlot = async () => {
    if (!slotCreated) return;
    const cleanup = postgres(adminUrl, { max: 1, onnotice: () => {} });
    try {
      // The primary's walsender may outlive the stopped standby by a moment, holding the slot.
      for (let i = 0; i < 100; i++) {
        const [held] = await cleanup`SELECT 1 FROM pg_replication_slots
                                     WHERE slot_name = ${slot} AND active`;
        if (!held) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await cleanup`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                    WHERE slot_name = ${slot}`;
    } finally {
      await cleanup.end();
    }
  };
  try {
    const [info] = await admin<{ data: string; bin: string; version: number }[]>`
      SELECT current_setting('data_directory') AS data,
             (SELECT setting FROM pg_config WHERE name = 'BINDIR') AS bin,
             current_setting('server_version_num')::int AS version`;
    if (!info) throw new Error('no server info');
    const modern = info.version >= 150000;
    await admin`SELECT pg_create_physical_replication_slot(${slot}, true)`;
    slotCreated = true;
    await admin.unsafe(
      modern
        ? `SELECT pg_backup_start('pgparts-standby', true)`
        : `SELECT pg_start_backup('pgparts-standby', true, false)`,
    );
    copyLiveDirectory(info.data, data);
    const [stop] = await admin.unsafe<{ labelfile: string }[]>(
      modern
        ? 'SELECT labelfile FROM pg_backup_stop(true)'
        : 'SELECT labelfile FROM pg_stop_backup(false, true)',
    );
    writeFileSync(join(data, 'backup_label'), stop?.labelfile ?? '');
    const primary = new URL(adminUrl);
    const port = await freePort();
    writeFileSync(join(data, 'standby.signal'), '');
    writeFileSync(
      join(data, 'postgresql.auto.conf'),
      `primary_conninfo = 'host=${primary.hostname} port=${primary.port} user=${decodeURIComponent(primary.username)} password=${decodeURIComponent(primary.password)}'\nhot_standby = on\nprimary_slot_name = '${slot}'\n`,
      { flag: 'a' },
    );
    // A standby needs these at least as high as the primary's (the primary runs with its own -c).
    // And in-place tablespaces allowed (PostgreSQL 15+): another test file may make one on the
    // primary (test/core/partition-tablespace.test.ts), and recovery stops at its directory.
    const settings = await admin<{ name: string; setting: string }[]>`
      SELECT name, setting FROM pg_settings
      WHERE name IN ('max_connections', 'max_worker_processes', 'max_wal_senders',
                     'max_prepared_transactions', 'max_locks_per_transaction', 'fsync')
      UNION ALL
      SELECT name, 'on' FROM pg_settings WHERE name = 'allow_in_place_tablespaces'`;
    const ids = runAs();
    if (ids.uid !== undefined) execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, dir]);
    execFileSync('chmod', ['700', data]);
    const started = spawn(
      join(info.bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        ...settings.flatMap((x) => ['-c', `${x.name}=${x.setting}`]),
      ],
      {
        ...ids,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    child = started;
    await new Promise<void>((ready, fail) => {
      let log = '';
      // Not ready in 90 s: fail with what the standby said, instead of the hook's bare timeout.
      const stuck = setTimeout(
        () => fail(new Error(`standby not ready after 90 s; its log:\n${log}`)),
        90_000,
      );
      started.stderr?.on('data', (chunk) => {
        log += chunk;
        if (log.includes('ready to accept read-only connections')) {
          clearTimeout(stuck);
          ready();
        }
      });
      started.on('close', (code) => {
        clearTimeout(stuck);
        fail(new Error(`standby exited (${code}): ${log}`));
      });
    });
    const url = (database: string) => {
      const u = new URL(adminUrl);
      u.port = String(port);
      u.pathname = `/${database}`;
      return u.toString();
    };
    return {
      url,
      stop: async () => {
        const closed = new Promise((done) => started.on('close', done));
        started.kill('SIGINT');
        await closed;
        rmSync(dir, { recursive: true, force: true });
        await dropSlot();
      },
    };
  } catch (error) {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child?.on('close', done));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
    await dropSlot().catch(() => {});
    throw error;
  } finally {
    await admin.end();
  }
}
