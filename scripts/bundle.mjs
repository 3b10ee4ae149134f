/**
 * The package's JavaScript: one file per entry point (package.json's `exports` and `bin`) and
 * shared chunks, bundled from src/ by esbuild; the declarations come from tsc
 * (tsconfig.build.json emits only them). Node resolving, reading and compiling 151 modules one by
 * one cost `import('pgparts')` 0.14 CPU-s more than these 7 files, and a `pgparts apply` with
 * nothing to do (187 modules, now 12 files) 0.29 more (CHANGELOG.md): a cron job pays it on every
 * run. Dependencies stay imports of the app's node_modules. Each file's source map carries the
 * TypeScript it maps to (src/ is not packed).
 *
 *   node scripts/bundle.mjs   (run by `npm run build`, after tsc)
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const ROOT = resolve(import.meta.dirname, '..');

/** "./dist/domains/schema.js" -> ["domains/schema", "src/domains/schema.ts"]. */
function entryOf(target) {
  const match = /^\.\/dist\/(.+)\.js$/.exec(target);
  if (!match) throw new Error(`bundle: ${target} is not a file of dist/`);
  return [match[1], join(ROOT, 'src', `${match[1]}.ts`)];
}

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const targets = [
  ...Object.values(manifest.exports)
    .map((entry) => (typeof entry === 'string' ? entry : entry.default))
    .filter((target) => target.endsWith('.js')),
  ...Object.values(manifest.bin).map((target) => `./${target}`),
  // Loaded by its path, in place of drizzle-kit, when an app's drizzle.config is read where
  // drizzle-kit is not installed (src/migrations/drizzle-config.ts).
  './dist/migrations/drizzle-kit-stand-in.js',
];

await build({
  entryPoints: Object.fromEntries(targets.map(entryOf)),
  outdir: join(ROOT, 'dist'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  sourcesContent: true,
  logLevel: 'warning',
});
