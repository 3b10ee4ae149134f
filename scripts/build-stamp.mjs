/**
 * `npm run build` records what it built from, so `npm pack` can skip building again when dist/
 * is provably what a build of the current sources gives (test/packaging/packed-install.test.ts):
 * a stamp in .pgparts/ (not in dist/, so not in the package) with a digest of the build's inputs
 * (src/, the bundling script, the tsconfig files, package.json and package-lock.json, which pin
 * the compiler, the bundler and the types they read) and one of dist/ as the build left it. tsc
 * and esbuild write the same output for the same inputs, so a matching stamp means a build now
 * would write the dist/ that is there.
 *
 *   node scripts/build-stamp.mjs clean   removes dist/ and the stamp (before tsc)
 *   node scripts/build-stamp.mjs write   records the stamp (after tsc and the bundle succeeded)
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const STAMP = join(ROOT, '.pgparts', 'build-stamp.json');
const INPUTS = [
  'src',
  'scripts/bundle.mjs',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
];

/** Every file under `path` (or `path` itself), sorted, relative to the root. */
function files(path) {
  const full = join(ROOT, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .sort();
}

/** A digest of the names and contents of every file under `paths`. */
function digest(paths) {
  const hash = createHash('sha256');
  for (const file of paths.flatMap(files)) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(join(ROOT, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** True when dist/ is what `npm run build` wrote from the sources as they are now. */
export function distIsFresh() {
  if (!existsSync(STAMP)) return false;
  const stamp = JSON.parse(readFileSync(STAMP, 'utf8'));
  return stamp.inputs === digest(INPUTS) && stamp.dist === digest(['dist']);
}

if (import.meta.filename === resolve(process.argv[1] ?? '')) {
  const command = process.argv[2];
  if (command === 'clean') {
    rmSync(STAMP, { force: true });
    rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  } else if (command === 'write') {
    mkdirSync(dirname(STAMP), { recursive: true });
    writeFileSync(STAMP, JSON.stringify({ inputs: digest(INPUTS), dist: digest(['dist']) }));
  } else {
    process.stderr.write('usage: node scripts/build-stamp.mjs clean|write\n');
    process.exitCode = 1;
  }
}
