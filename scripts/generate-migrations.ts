/**
 * `npm run db:generate`: brings drizzle/ in step with the typed tables and the partition specs.
 *
 *   1. on a fresh tree, a custom migration that creates pg_trgm (the schema's trigram indexes
 *      need it before any table);
 *   2. `drizzle-kit generate` for whatever the Drizzle tables changed;
 *   3. PARTITION BY added to the CREATE TABLE of every partitioned parent (drizzle-kit cannot
 *      write it, and a table cannot be partitioned after it is created);
 *   4. the partition migration (DEFAULT and first partitions, INCLUDE index, materialized views),
 *      a drizzle-kit custom migration rendered from the specs.
 *
 * Running it again on an up-to-date tree changes nothing. `--check` runs it on a copy and fails
 * when the committed drizzle/ differs from what it would write.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtInFamilies, partitionMigrationSql } from '../src/domains/presets.js';
import { partitionByClause } from '../src/sql/partition-ddl.js';

const BREAKPOINT = '\n--> statement-breakpoint\n';
const PARTITION_MIGRATION_HEADER =
  '-- pgparts: partition DDL, written by `npm run db:generate` from src/*/partitioning.ts. Do not edit.';

const root = resolve(import.meta.dirname, '..');

function drizzleKit(cwd: string, args: string[]): string {
  const bin = join(root, 'node_modules', '.bin', 'drizzle-kit');
  return execFileSync(bin, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function journalTags(dir: string): string[] {
  const journal = join(dir, 'drizzle', 'meta', '_journal.json');
  if (!existsSync(journal)) return [];
  const parsed = JSON.parse(readFileSync(journal, 'utf8')) as { entries: { tag: string }[] };
  return parsed.entries.map((e) => e.tag);
}

/** Appends PARTITION BY to the CREATE TABLE of each partitioned parent; leaves the rest alone. */
export function addPartitionClauses(migration: string): string {
  let out = migration;
  for (const family of builtInFamilies) {
    for (const table of family.tables) {
      // [^;] keeps the match inside one statement; an already partitioned table does not match.
      const create = new RegExp(`(CREATE TABLE "(?:[a-z_]+"\\.")?${table}" \\([^;]*?\\n\\));`);
      out = out.replace(create, (_m, body: string) => `${body} ${partitionByClause(family)};`);
    }
  }
  return out;
}

function generate(dir: string): void {
  if (journalTags(dir).length === 0) {
    drizzleKit(dir, ['generate', '--custom', '--name', 'extensions']);
    const [tag] = journalTags(dir);
    writeFileSync(
      join(dir, 'drizzle', `${tag}.sql`),
      '-- pg_trgm ships with PostgreSQL contrib; the name autosuggest indexes use it.\nCREATE EXTENSION IF NOT EXISTS pg_trgm;\n',
    );
  }

  const firstSchema = journalTags(dir).length === 1;
  drizzleKit(dir, ['generate', ...(firstSchema ? ['--name', 'schema'] : [])]);

  const folder = join(dir, 'drizzle');
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.sql'))) {
    const path = join(folder, file);
    const before = readFileSync(path, 'utf8');
    const after = addPartitionClauses(before);
    if (after !== before) writeFileSync(path, after);
  }

  const body = `${PARTITION_MIGRATION_HEADER}\n${partitionMigrationSql().join(`;${BREAKPOINT}`)};\n`;
  let partitionFile = readdirSync(folder).find(
    (f) =>
      f.endsWith('.sql') &&
      readFileSync(join(folder, f), 'utf8').startsWith(PARTITION_MIGRATION_HEADER),
  );
  if (!partitionFile) {
    drizzleKit(dir, ['generate', '--custom', '--name', 'partitions']);
    partitionFile = `${journalTags(dir).at(-1)}.sql`;
  }
  writeFileSync(join(folder, partitionFile), body);
}

function listTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else files.set(rel, readFileSync(join(dir, rel), 'utf8'));
    }
  };
  if (existsSync(dir)) walk('');
  return files;
}

/** Runs the generator on a copy of the project and lists what it would change in drizzle/. */
export function staleMigrationFiles(): string[] {
  const copy = mkdtempSync(join(tmpdir(), 'pgparts-generate-'));
  try {
    for (const entry of ['src', 'drizzle', 'drizzle.config.ts', 'package.json']) {
      if (existsSync(join(root, entry)))
        cpSync(join(root, entry), join(copy, entry), { recursive: true });
    }
    symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
    generate(copy);
    const committed = listTree(join(root, 'drizzle'));
    const fresh = listTree(join(copy, 'drizzle'));
    const changed: string[] = [];
    for (const [file, text] of fresh) if (committed.get(file) !== text) changed.push(file);
    for (const file of committed.keys()) if (!fresh.has(file)) changed.push(file);
    return changed;
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--check')) {
    const changed = staleMigrationFiles();
    if (changed.length > 0) {
      console.error(
        `drizzle/ is stale; run \`npm run db:generate\` and commit. Would change:\n  ${changed.join('\n  ')}`,
      );
      process.exit(1);
    }
    console.log('drizzle/ is up to date with the schema and the partition specs.');
  } else {
    generate(root);
    console.log(`drizzle/ is up to date: ${journalTags(root).join(', ')}`);
  }
}
