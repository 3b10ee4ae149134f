/**
 * The two PGlite data directories every test PGlite starts from (empty, and migrated), built once
 * per test run and shared by its workers through files. Creating a PGlite runs initdb in
 * WebAssembly (about 6 CPU-s); each worker did it once, three times a run. Now the first worker
 * to need them claims the build (an exclusive create of `building`), saves both tarballs, and
 * marks them `ready`; the others wait for that mark and read the files. (Not in the global
 * setup: no worker starts before it ends, and a build there kept the run's start 5 s longer
 * with a core idle.) A worker still builds
 * them itself when the claimant died without finishing. The files live in
 * .pgparts/pglite/<the run's template database name>; the global setup removes them at the end,
 * and the next run removes those of a run that is gone. The initdb itself is kept across runs
 * (INITDB_DIR below): the build then costs the migration only.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { isAlive } from '../../scripts/embedded-server.js';
import { migrate } from '../../src/migrations/migrate.js';

export interface PgliteImages {
  empty: Blob;
  migrated: Blob;
}

const IMAGES_DIR = resolve(import.meta.dirname, '..', '..', '.pgparts', 'pglite');

/** The directory of the run whose template database is `template`. */
export function pgliteImagesDir(template: string): string {
  return join(IMAGES_DIR, template);
}

/** Removes the images of runs whose process is gone (the name ends with the run's pid). */
export function sweepPgliteImages(): void {
  if (!existsSync(IMAGES_DIR)) return;
  for (const entry of readdirSync(IMAGES_DIR)) {
    const pid = Number(/_(\d+)$/.exec(entry)?.[1]);
    if (!isAlive(pid)) rmSync(join(IMAGES_DIR, entry), { recursive: true, force: true });
  }
}

/**
 * An image for `loadDataDir`, whose bytes PGlite reads with one `arrayBuffer()` call. Node's own
 * Blob hands them back in 64 KB reads joined together: profiled, that took about a third of the
 * CPU of each PGlite started from the 45 MB migrated image (1.5-1.7 CPU-s each, about 0.35 s
 * less with this). Each call returns a copy: PGlite may keep or change what it is given.
 */
class ImageBlob extends Blob {
  readonly #data: Uint8Array;
  constructor(data: Uint8Array) {
    super([]);
    this.#data = data;
  }
  override async arrayBuffer(): Promise<ArrayBuffer> {
    return this.#data.slice().buffer as ArrayBuffer;
  }
}

const image = async (blob: Blob) => new ImageBlob(new Uint8Array(await blob.arrayBuffer()));

type PgliteModules = Required<Pick<PGliteOptions, 'pgliteWasmModule' | 'fsBundle'>>;
// The lib setting declares no WebAssembly value; Node has it.
const wasm = (
  globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<never> } }
).WebAssembly;

let compiled: Promise<PgliteModules> | undefined;

/**
 * PGlite's WebAssembly module and file-system bundle, compiled and read once per process: each
 * PGlite.create otherwise compiles the module again (about a fifth of a start's CPU).
 */
export function pgliteModules(): Promise<PgliteModules> {
  compiled ??= (async () => ({
    pgliteWasmModule: await wasm.compile(readFileSync(join(pgliteDist(), 'pglite.wasm'))),
    // Read by each PGlite.create with arrayBuffer(), as the images are (ImageBlob below).
    fsBundle: new ImageBlob(readFileSync(join(pgliteDist(), 'pglite.data'))),
  }))();
  return compiled;
}

function pgliteDist(): string {
  return dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
}

/**
 * What PGlite's initdb makes, kept across runs in .pgparts/pglite-initdb/<PGlite's version>.tar:
 * initdb in WebAssembly costs about 6.8 CPU-s, and gives the same data directory every run for
 * one PGlite release (the empty image; the migrated one is still made from it each run, since
 * it follows src/). Another release writes its own file, and the files of others are removed.
 */
const INITDB_DIR = resolve(IMAGES_DIR, '..', 'pglite-initdb');

function initdbFile(): string {
  const { version } = JSON.parse(readFileSync(join(pgliteDist(), '..', 'package.json'), 'utf8'));
  return join(INITDB_DIR, `${version}.tar`);
}

function savedInitdb(): ImageBlob | undefined {
  try {
    return new ImageBlob(readFileSync(initdbFile()));
  } catch {
    return undefined; // none saved yet (or another run replacing it right now): initdb runs
  }
}

/** Saves it for the next runs; a run that cannot (a read-only checkout) just goes on. */
async function saveInitdb(empty: Blob): Promise<void> {
  const file = initdbFile();
  const partial = `${file}.${process.pid}.partial`;
  try {
    mkdirSync(INITDB_DIR, { recursive: true });
    for (const entry of readdirSync(INITDB_DIR)) {
      if (entry.endsWith('.tar')) rmSync(join(INITDB_DIR, entry), { force: true });
    }
    writeFileSync(partial, new Uint8Array(await empty.arrayBuffer()));
    renameSync(partial, file);
  } catch {
    rmSync(partial, { force: true });
  }
}

async function build(): Promise<PgliteImages> {
  const saved = savedInitdb();
  const first = await PGlite.create({
    extensions: { pg_trgm },
    ...(await pgliteModules()),
    ...(saved ? { loadDataDir: saved } : {}),
  });
  try {
    const empty = saved ?? (await image(await first.dumpDataDir('none')));
    if (!saved) await saveInitdb(empty);
    await migrate(drizzlePglite(first));
    return { empty, migrated: await image(await first.dumpDataDir('none')) };
  } finally {
    await first.close();
  }
}

async function save(dir: string, images: PgliteImages): Promise<void> {
  for (const name of ['empty', 'migrated'] as const) {
    const partial = join(dir, `${name}.${process.pid}.partial`);
    writeFileSync(partial, new Uint8Array(await images[name].arrayBuffer()));
    renameSync(partial, join(dir, `${name}.tar`));
  }
  writeFileSync(join(dir, 'ready'), '');
}

function load(dir: string): PgliteImages {
  return {
    empty: new ImageBlob(readFileSync(join(dir, 'empty.tar'))),
    migrated: new ImageBlob(readFileSync(join(dir, 'migrated.tar'))),
  };
}

/** Claims the build: true when this process is the one to build. */
function claim(dir: string): boolean {
  try {
    const fd = openSync(join(dir, 'building'), 'wx');
    writeFileSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** The pid in `building`: 0 while it is being written, undefined once the claim is gone. */
function claimantPid(dir: string): number | undefined {
  try {
    return Number(readFileSync(join(dir, 'building'), 'utf8')) || 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The images for this run's PGlites: built here, or read once another worker has saved them. */
export async function sharedPgliteImages(template: string): Promise<PgliteImages> {
  const dir = pgliteImagesDir(template);
  mkdirSync(dir, { recursive: true });
  for (;;) {
    if (existsSync(join(dir, 'ready'))) return load(dir);
    if (claim(dir)) {
      try {
        const images = await build();
        await save(dir, images);
        return images;
      } catch (error) {
        rmSync(join(dir, 'building'), { force: true });
        throw error;
      }
    }
    // Another worker builds them (its pid is in `building`):
    // a claimant that is gone without marking them ready gives up its claim.
    const claimant = claimantPid(dir);
    if (claimant === undefined) continue;
    if (claimant > 0 && !isAlive(claimant)) {
      rmSync(join(dir, 'building'), { force: true });
      continue;
    }
    await new Promise((done) => setTimeout(done, 200));
  }
}
