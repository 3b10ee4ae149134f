import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  type Stats,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { PgpartsError } from '../errors.js';
import {
  type OnlineIndexEntry,
  renderOnlineIndexMigration,
} from '../ops/online-index-migration.js';
import { quoteIdent } from '../sql/identifiers.js';
import { partitionByClause } from '../sql/partition-ddl.js';
import { type LoadedConfig, loadAppConfig } from './app-config.js';
import { checkBlockingIndexes } from './blocking-indexes.js';
import { addCustomMigration, type JournalShape } from './custom-migration.js';
import { loadDrizzleConfigFor } from './drizzle-config.js';
import { checkDrizzleKitVersion, runDrizzleKitGenerate } from './drizzle-kit.js';
import {
  adoptState,
  editedMigrations,
  familyShape,
  type GeneratorState,
  objectHash,
  readState,
  writeState,
} from './generator-state.js';
import { readJournal, readMigrations, STATEMENT_BREAKPOINT } from './journal.js';
import { checkKeyTypes } from './key-types.js';
import { newPartitionsSql } from './new-partitions.js';
import {
  indexChanges,
  onlineSpecOf,
  readSnapshot,
  withoutIndexStatements,
} from './online-indexes.js';
import {
  addPartitionClause,
  createsTable,
  partitionClauseIn,
  sinceLastDrop,
} from './partition-clauses.js';
import { type Casing, checkPartitionColumns } from './partition-columns.js';
import { migratedInterval } from './range-interval.js';
import { checkUniqueKeys } from './unique-keys.js';

/**
 * `pgparts generate` and `generate()`: brings an app's migrations folder (its drizzle.config
 * `out`) in step with its Drizzle schema and its pgparts.config, only ever by adding files:
 *
 *   1. extensions the config names for the first time, in a migration of their own (the tables
 *      after it may need them);
 *   2. `drizzle-kit generate` for the schema, and PARTITION BY on the CREATE TABLE of each
 *      partitioned parent it created in this run;
 *   3. a migration with the first partitions of those new parents (DEFAULT, LIST values, the RANGE
 *      window) and the objects (INCLUDE indexes, materialized views, ...) named for the first time;
 *   4. a `-- pgparts:online` migration for the indexes drizzle-kit added (or changed) on tables
 *      partitioned by an earlier migration, taken out of drizzle-kit's file (online-indexes.ts):
 *      `pgparts migrate` builds them without blocking writers.
 *
 * Refused before anything is kept: a unique key of a family's table without the partition key
 * (unique-keys.ts), which PostgreSQL would refuse on every database; a journaled file not yet
 * recorded (written by drizzle-kit outside generate) with a blocking CREATE INDEX on a
 * partitioned table (blocking-indexes.ts); like a changed partition key, a RANGE family's changed
 * interval (range-interval.ts).
 *
 * A migration already in the journal is never touched: a database that applied it would never see
 * the edit. out/pgparts.json keeps their hashes (`--check` fails on an edited one) and what has
 * been written. Run again with nothing changed, it writes nothing.
 */

export interface GenerateOptions {
  /** pgparts.config.ts (or .js/.mjs), relative to `cwd`. */
  config: string;
  /**
   * drizzle.config.ts, relative to `cwd`; by default the first of drizzle-kit's names next to
   * the pgparts config. Its `out` and `schema` are read from its own folder.
   */
  drizzleConfig?: string;
  /** The app folder; default: the current directory. */
  cwd?: string;
  /** Write nothing; report what a run would write (and edited migrations) in `stale`. */
  check?: boolean;
}

export interface GenerateResult {
  /** Tags of the migrations written (in check mode: that would be written). */
  written: string[];
  /** Files of `out` that differ from what generate would leave (check mode). */
  stale: string[];
  /** The migrations folder. */
  out: string;
}

const HEADER = '-- pgparts: written by `pgparts generate` from pgparts.config. Do not edit.';

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const cwd = resolve(options.cwd ?? process.cwd());
  const config = await loadAppConfig(resolve(cwd, options.config));
  const drizzle = await loadDrizzleConfigFor(options.config, options.drizzleConfig, cwd);
  if (drizzle.journal.prefix === 'none') {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: ${drizzle.path}: migrations.prefix 'none' cannot be generated into: drizzle-kit ` +
        '0.31 names every snapshot meta/_snapshot.json and skips it when it reads the folder (it ' +
        'skips names starting with _), so each of its runs writes every table again, and generate ' +
        "cannot tell a new index or key from an old one. Use 'index' (the default), 'timestamp', " +
        "'unix' or 'supabase'; nothing was written.",
    );
  }
  checkDrizzleKitVersion(drizzle.cwd);
  const kit = {
    path: drizzle.path,
    cwd: drizzle.cwd,
    shape: drizzle.journal,
    casing: drizzle.casing,
  };
  if (!options.check) {
    const written = generateInto(drizzle.out, kit, config);
    return { written, stale: [], out: drizzle.out };
  }
  const scratch = mkdtempSync(join(tmpdir(), 'pgparts-check-'));
  try {
    const copy = join(scratch, 'out');
    if (existsSync(drizzle.out)) cpSync(drizzle.out, copy, { recursive: true });
    else mkdirSync(copy);
    // drizzle-kit reads `out` relative to the folder it runs in, whatever its form.
    const scratchConfig = join(scratch, 'drizzle.config.ts');
    writeFileSync(
      scratchConfig,
      `import base from ${JSON.stringify(drizzle.path)};\nexport default { ...base, out: ${JSON.stringify(relative(drizzle.cwd, copy))} };\n`,
    );
    const written = generateInto(copy, { ...kit, path: scratchConfig }, config);
    const stale = differences(listTree(drizzle.out), listTree(copy));
    return { written, stale, out: drizzle.out };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** The names of the families the config's `conversions` convert online. */
function convertedFamilies(config: LoadedConfig): Set<string> {
  const names = config.conversions.map(
    (target) => (target as { family?: { name?: unknown } } | null)?.family?.name,
  );
  return new Set(names.filter((name): name is string => typeof name === 'string'));
}

/** The run itself, on `out`; on any error the folder is put back as it was. */
function generateInto(out: string, kit: DrizzleKitRun, config: LoadedConfig): string[] {
  const before = listTree(out);
  const times = modificationTimes(out, before);
  const folders = listFolders(out);
  try {
    return writeMigrations(out, kit, config);
  } catch (error) {
    restoreTree(out, before, times, folders);
    throw error;
  }
}

/** The drizzle.config a run uses: its file, the folder drizzle-kit runs in, its journal's shape. */
interface DrizzleKitRun {
  path: string;
  cwd: string;
  shape: JournalShape;
  casing: Casing;
}

function writeMigrations(out: string, kit: DrizzleKitRun, config: LoadedConfig): string[] {
  const journaled = readMigrations(out);
  const recorded = readState(out);
  const state =
    recorded ?? adoptState(journaled, config.families, config.extensions, config.objects);
  const edited = editedMigrations(journaled, state);
  if (edited.length > 0) {
    throw new PgpartsError(
      'migration',
      `pgparts: ${edited.join(', ')} changed after it was generated; a database that applied it ` +
        'never sees the change. Restore it, and put the change in a new migration.',
    );
  }
  // A folder without pgparts.json has recorded nothing yet: its files are all history.
  if (recorded) checkBlockingIndexes(journaled, state, config.families);
  checkFamilyShapes(
    config,
    state,
    journaled.map((f) => f.text),
  );
  checkObjects(config, state);

  const written: string[] = [];
  const newExtensions = config.extensions.filter((e) => !state.extensions.includes(e));
  if (newExtensions.length > 0) {
    const tag = customMigration(out, kit, 'extensions');
    writeMigration(
      out,
      tag,
      newExtensions.map((e) => `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e)}`),
    );
    written.push(tag);
  }

  const countBefore = readJournal(out).length;
  runKit(out, kit);
  const latest = readJournal(out).at(-1);
  if (latest) {
    const snapshot = readSnapshot(out, latest.tag);
    checkPartitionColumns(snapshot, config.families, kit.casing);
    checkUniqueKeys(snapshot, config.families);
    checkKeyTypes(snapshot, config.families);
  }
  const thisRun = readJournal(out)
    .slice(countBefore)
    .map((e) => e.tag);
  written.push(...thisRun);
  const earlier = journaled.map((f) => f.text);
  const onlineIndexes = takeOnlineIndexes(out, countBefore, thisRun, config, state);

  const partitionSql: string[] = [];
  const converting = convertedFamilies(config);
  for (const family of config.families) {
    const known = new Set(state.families[family.name]?.tables ?? []);
    const wanted = partitionByClause(family).replace(/\s+/g, ' ');
    // How an earlier migration created each table: a family declared again (removed from the
    // config, then put back) finds its tables created partitioned as it says, with their first
    // partitions: nothing to write for them.
    // A table dropped since is created anew: only the migrations after its last DROP count.
    const earlierClause = (table: string) =>
      sinceLastDrop(earlier, family.schema, table)
        .map((text) => partitionClauseIn(text, family.schema, table))
        .find((c) => c !== undefined);
    // A table an earlier migration created unpartitioned, of a family the config converts
    // online (`conversions`): the conversion partitions it, on each database (after migrate on a
    // new one); no migration can. Nothing to write for it, and it is known from now on.
    const converted = (t: string) => converting.has(family.name) && earlierClause(t) === null;
    const newTables = family.tables.filter(
      (t) => !known.has(t) && earlierClause(t) !== wanted && !converted(t),
    );
    for (const table of newTables) {
      const file = thisRun.find((tag) => createsTable(readSql(out, tag), family.schema, table));
      if (!file) {
        const clause = earlierClause(table);
        throw new PgpartsError(
          'migration',
          clause !== undefined
            ? `pgparts: family ${family.name}: ${family.schema}.${table} was created by an earlier ` +
                `migration ${clause === null ? 'without PARTITION BY' : `with ${clause}, not ${wanted}`}, ` +
                'and a table cannot be re-partitioned after it is created; convert it online: ' +
                "export the family in pgparts.config's `conversions` (`conversionTarget({ family, " +
                'tables })`, docs/conversion.md), which `pgparts convert` runs and generate then ' +
                'leaves the table to; or give the family a new table'
            : `pgparts: family ${family.name}: drizzle-kit did not create ${family.schema}.${table}; ` +
                "is the table exported from the drizzle.config's schema files?",
        );
      }
      writeFileSync(sqlPath(out, file), addPartitionClause(readSql(out, file), family, table));
    }
    if (newTables.length > 0) partitionSql.push(...newPartitionsSql(family, newTables));
  }
  for (const object of config.objects) {
    if (state.objects[object.name] === undefined) partitionSql.push(...object.sql);
  }
  if (partitionSql.length > 0) {
    const tag = customMigration(out, kit, 'partitions');
    writeMigration(out, tag, partitionSql);
    written.push(tag);
  }

  if (onlineIndexes.length > 0) {
    const tag = customMigration(out, kit, 'online_indexes');
    writeFileSync(sqlPath(out, tag), renderOnlineIndexMigration(onlineIndexes));
    written.push(tag);
  }

  writeState(out, nextState(out, state, config));
  return written;
}

/**
 * The indexes drizzle-kit's file of this run adds, changes, renames or removes on tables
 * partitioned by an earlier migration (online-indexes.ts, indexChanges), taken out of that file:
 * the CREATE INDEX of each new one, and the DROP INDEX of a changed one (replaced online, the old
 * index in use until the new one is complete), of a renamed one (renamed in place) and of one
 * removed from a table that gets a new one (dropped after it is built). When nothing else is
 * left in the file, it becomes the online migration itself and nothing is returned; otherwise
 * the directives are returned for a migration of their own after the others (an online
 * migration holds nothing else).
 */
function takeOnlineIndexes(
  out: string,
  countBefore: number,
  thisRun: readonly string[],
  config: LoadedConfig,
  state: GeneratorState,
): OnlineIndexEntry[] {
  const file = thisRun[0];
  const entries = readJournal(out);
  const entry = entries[countBefore];
  if (!file || !entry) return [];
  const previous = entries[countBefore - 1];
  if (!previous) return [];
  const after = readSnapshot(out, entry.tag);
  const partitioned = config.families.flatMap((family) => {
    const known = new Set(state.families[family.name]?.tables ?? []);
    return family.tables
      .filter((t) => known.has(t))
      .map((name) => ({ schema: family.schema, name }));
  });
  const { built, renamed, dropped } = indexChanges(
    readSnapshot(out, previous.tag),
    after,
    partitioned,
  );
  if (built.length === 0 && renamed.length === 0) return [];
  const table = (t: { schema: string; table: string }) => ({ schema: t.schema, name: t.table });
  // Renames first (a moment each), then the builds, then the drops they make safe.
  const specs: OnlineIndexEntry[] = [
    ...renamed.map((r) => ({ rename: { table: table(r), from: r.from, to: r.to } })),
    ...built.map((c) => (c.replaces ? { replace: onlineSpecOf(c) } : onlineSpecOf(c))),
    ...dropped.map((d) => ({ drop: { table: table(d), name: d.name } })),
  ];
  const rest = withoutIndexStatements(
    readSql(out, file),
    {
      created: [...built.map((c) => c.index.name), ...renamed.map((r) => r.to)],
      dropped: [
        ...built.filter((c) => c.replaces).map((c) => c.index.name),
        ...renamed.map((r) => r.from),
        ...dropped.map((d) => d.name),
      ],
    },
    entry.breakpoints !== false,
  );
  if (rest !== '') {
    writeFileSync(sqlPath(out, file), rest);
    return specs;
  }
  writeFileSync(sqlPath(out, file), renderOnlineIndexMigration(specs));
  return [];
}

function checkFamilyShapes(
  config: LoadedConfig,
  state: GeneratorState,
  earlier: readonly string[],
): void {
  for (const family of config.families) {
    const known = state.families[family.name];
    const now = familyShape(family);
    if (known && (known.strategy !== now.strategy || known.column !== now.column)) {
      throw new PgpartsError(
        'migration',
        `pgparts: family ${family.name} was migrated as ${known.strategy.toUpperCase()} (${known.column}); ` +
          `the config says ${now.strategy.toUpperCase()} (${now.column}). A partition key cannot be ` +
          'changed by a migration: declare a new family, or convert the tables with `pgparts convert`',
      );
    }
    // The journaled migrations create the first partitions with the interval they were written
    // with on every fresh database; partitions of another interval after them leave gaps where
    // the two grids overlap (rows there fail to insert). Also for a family put back in the
    // config after it was removed (its tables' block is still in the journal).
    const was =
      now.interval === undefined
        ? undefined
        : (known?.interval ?? migratedInterval(earlier, family));
    if (was !== undefined && was !== now.interval) {
      throw new PgpartsError(
        'migration',
        `pgparts: family ${family.name} was migrated with interval ${was}; the config says ` +
          `${now.interval}. A RANGE family's interval cannot be changed by a migration: the ` +
          `journaled migrations create ${was} partitions on every fresh database, and ${now.interval} ` +
          'partitions after them could not cover where the two overlap. Put the interval back, or ' +
          'declare a new family (new tables) with the new interval; nothing was written.',
      );
    }
  }
}

function checkObjects(config: LoadedConfig, state: GeneratorState): void {
  for (const object of config.objects) {
    const known = state.objects[object.name];
    if (known !== undefined && known !== objectHash(object)) {
      throw new PgpartsError(
        'migration',
        `pgparts: object ${object.name} changed after it was written into a migration; objects ` +
          'are written once. Declare the change as a new object (a new name), or a migration of your own.',
      );
    }
  }
}

function nextState(out: string, state: GeneratorState, config: LoadedConfig): GeneratorState {
  const migrations: Record<string, string> = {};
  for (const file of readMigrations(out)) migrations[file.tag] = file.hash;
  const families: GeneratorState['families'] = {};
  for (const family of config.families) {
    const shape = familyShape(family);
    // A family recorded before the interval was: its entry stays as it was (no stale --check on
    // upgrade); the earlier migrations still tell its interval.
    const known = state.families[family.name];
    if (known && known.interval === undefined) delete shape.interval;
    families[family.name] = shape;
  }
  const objects: Record<string, string> = { ...state.objects };
  for (const object of config.objects) objects[object.name] = objectHash(object);
  const extensions = [...state.extensions];
  for (const e of config.extensions) if (!extensions.includes(e)) extensions.push(e);
  return { version: 1, migrations, families, extensions, objects };
}

/**
 * An empty migration in the journal, as `drizzle-kit generate --custom` adds it (written here
 * where the folder has drizzle-kit's default shape: custom-migration.ts); returns its tag.
 */
function customMigration(out: string, kit: DrizzleKitRun, name: string): string {
  const written = addCustomMigration(out, name, kit.shape);
  if (written) return written;
  const count = readJournal(out).length;
  runKit(out, kit, ['--custom', '--name', name]);
  const entries = readJournal(out);
  const tag = entries.at(-1)?.tag;
  if (entries.length !== count + 1 || !tag) {
    throw new PgpartsError(
      'migration',
      `pgparts: drizzle-kit generate --custom did not add a migration to ${out}`,
    );
  }
  return tag;
}

/**
 * drizzle-kit, once the second of the folder's last migration is past where its prefix is a time
 * (timestamp, supabase, unix): it names a migration's snapshot by the second, and a second
 * migration in the same one would overwrite the first's snapshot.
 */
function runKit(out: string, kit: DrizzleKitRun, extra: readonly string[] = []): void {
  const last = readJournal(out).at(-1)?.when;
  if (kit.shape.prefix !== 'index' && last !== undefined) {
    const wait = (Math.floor(last / 1000) + 1) * 1000 - Date.now();
    if (wait > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, wait);
  }
  runDrizzleKitGenerate(kit.cwd, kit.path, extra);
}

function writeMigration(out: string, tag: string, statements: readonly string[]): void {
  writeFileSync(
    sqlPath(out, tag),
    `${HEADER}\n${statements.map((s) => s.replace(/;\s*$/, '')).join(`;\n${STATEMENT_BREAKPOINT}\n`)};\n`,
  );
}

const sqlPath = (out: string, tag: string) => join(out, `${tag}.sql`);
const readSql = (out: string, tag: string) => readFileSync(sqlPath(out, tag), 'utf8');

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

/**
 * The folder's subfolders (relative); when it does not exist yet, the outermost of it and its
 * parents that does not (drizzle-kit creates `db/migrations/meta` whole).
 */
interface Folders {
  missing?: string;
  dirs: Set<string>;
}

function listFolders(dir: string): Folders {
  const dirs = new Set<string>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = join(sub, entry.name);
      if (entry.isDirectory()) {
        dirs.add(rel);
        walk(rel);
      }
    }
  };
  if (existsSync(dir)) {
    walk('');
    return { dirs };
  }
  let missing = dir;
  while (!existsSync(dirname(missing)) && dirname(missing) !== missing) missing = dirname(missing);
  return { missing, dirs };
}

/**
 * Puts `dir` back as it was, folders included: drizzle-kit takes an existing `meta/` without a
 * journal for a broken folder, so one it created in a refused run must go too.
 */
/** Each file's access and modification times, to put back with what a refused run rewrote. */
function modificationTimes(dir: string, files: Map<string, string>): Map<string, Stats> {
  const times = new Map<string, Stats>();
  for (const rel of files.keys()) times.set(rel, statSync(join(dir, rel)));
  return times;
}

function restoreTree(
  dir: string,
  before: Map<string, string>,
  times: Map<string, Stats>,
  folders: Folders,
): void {
  if (folders.missing) {
    rmSync(folders.missing, { recursive: true, force: true });
    return;
  }
  for (const [rel] of listTree(dir)) if (!before.has(rel)) rmSync(join(dir, rel));
  const created = [...listFolders(dir).dirs].filter((rel) => !folders.dirs.has(rel));
  // Deepest first; each is empty once the files and folders below it are gone.
  for (const rel of created.sort().reverse()) rmSync(join(dir, rel), { recursive: true });
  for (const rel of folders.dirs) mkdirSync(join(dir, rel), { recursive: true });
  // Only what the run changed is written back, with its times as they were: after a refused run
  // no file looks modified (editors, `ls -t` and make would take them all for new).
  for (const [rel, text] of before) {
    const path = join(dir, rel);
    if (existsSync(path) && readFileSync(path, 'utf8') === text) continue;
    writeFileSync(path, text);
    const was = times.get(rel);
    if (was) utimesSync(path, was.atimeMs / 1000, was.mtimeMs / 1000);
  }
}

function differences(committed: Map<string, string>, fresh: Map<string, string>): string[] {
  const changed: string[] = [];
  for (const [file, text] of fresh) if (committed.get(file) !== text) changed.push(file);
  for (const file of committed.keys()) if (!fresh.has(file)) changed.push(file);
  return changed.sort();
}
