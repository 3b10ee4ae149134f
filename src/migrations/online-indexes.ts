import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../define/canonical-json.js';
import { PgpartsError } from '../errors.js';
import type { OnlineIndexSpecInput } from '../ops/online-index-spec.js';
import { joinStatements, migrationStatements } from './sql-statements.js';

/**
 * New indexes on partitioned tables that already hold rows are built online. drizzle-kit writes
 * them as a plain `CREATE INDEX` on the parent, which builds every partition's index inside one
 * statement while holding a SHARE lock on each partition (writers wait for the whole build). So
 * `pgparts generate` takes those statements out of the file drizzle-kit just wrote and puts the
 * indexes, read from drizzle-kit's snapshot, into a `-- pgparts:online` migration of their own
 * (ops/online-index-migration.ts), which `pgparts migrate` builds partition by partition.
 *
 * "New" is an index of the after-snapshot whose entry is absent from, or differs from, the
 * before-snapshot's. A changed one is a replacement: drizzle-kit's `DROP INDEX` is taken out of
 * its file too, and the online build makes the new index beside the old one and swaps it in once
 * complete (`-- pgparts:replace-index-online`), so the table is never without it. An index
 * renamed, its definition the same, is renamed (`-- pgparts:rename-index`), not built again; one
 * removed from a table that gets a new index in the same run is dropped after that build
 * (`-- pgparts:drop-index`), so a query the old one served has the new one first. Only tables
 * partitioned by an earlier migration count: a table created in the same run is empty, and its
 * plain CREATE INDEX is instant.
 */

interface SnapshotIndexColumn {
  expression: string;
  isExpression: boolean;
  asc: boolean;
  nulls?: string;
  opclass?: string;
}

export interface SnapshotIndex {
  name: string;
  columns: SnapshotIndexColumn[];
  isUnique: boolean;
  method?: string;
  where?: string;
  with?: Record<string, unknown>;
}

interface Snapshot {
  tables: Record<string, { name: string; schema: string; indexes?: Record<string, SnapshotIndex> }>;
}

/**
 * drizzle-kit's snapshot of the journal entry `tag`: meta/<prefix>_snapshot.json, where the
 * prefix is the tag's part before its first `_`, whatever `migrations.prefix` made it (0003,
 * 20261202013331, 1796175621), as drizzle-kit 0.31 writes it and its `drop` finds it. Missing
 * is an error: the checks that read it would otherwise pass for want of it.
 */
export function readSnapshot(out: string, tag: string): Snapshot {
  const file = snapshotFile(tag);
  const path = join(out, 'meta', file);
  if (!existsSync(path)) {
    throw new PgpartsError(
      'migration',
      `pgparts: drizzle-kit's snapshot of migration ${tag} (meta/${file}) is missing from ${out}; ` +
        'generate reads it to find the new indexes of partitioned tables (built online) and ' +
        'unique keys without the partition key. Restore it (drizzle-kit writes one per ' +
        'migration); nothing was written.',
    );
  }
  return JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
}

export function snapshotFile(tag: string): string {
  return `${tag.split('_')[0]}_snapshot.json`;
}

export interface TableIndex {
  schema: string;
  table: string;
  index: SnapshotIndex;
  /** The before-snapshot has an index of that name with another definition. */
  replaces: boolean;
}

/** An index of a partitioned table renamed, its definition unchanged. */
export interface TableIndexRename {
  schema: string;
  table: string;
  from: string;
  to: string;
}

/** An index of a partitioned table that `after` no longer has. */
export interface TableIndexDrop {
  schema: string;
  table: string;
  name: string;
}

export interface IndexChanges {
  /** Indexes `after` has that `before` lacks, or has with another definition (`replaces`). */
  built: TableIndex[];
  /** An index `before` has and `after` has not, and a new one equal to it but for its name. */
  renamed: TableIndexRename[];
  /**
   * Indexes `after` no longer has, on a table that gets an index built in this run: dropped
   * after those builds (on other tables drizzle-kit's DROP INDEX stays where it is).
   */
  dropped: TableIndexDrop[];
}

/** How the indexes of `tables` differ between drizzle-kit's two snapshots. */
export function indexChanges(
  before: Snapshot | undefined,
  after: Snapshot,
  tables: readonly { schema: string; name: string }[],
): IndexChanges {
  const changes: IndexChanges = { built: [], renamed: [], dropped: [] };
  const unnamed = (index: SnapshotIndex) => canonicalJson({ ...index, name: '' });
  for (const { schema, name } of tables) {
    const key = `${schema}.${name}`;
    const old = before?.tables[key]?.indexes ?? {};
    const now = after.tables[key]?.indexes ?? {};
    const built: TableIndex[] = [];
    const added: SnapshotIndex[] = [];
    for (const index of Object.values(now)) {
      const previous = old[index.name];
      if (previous && canonicalJson(previous) === canonicalJson(index)) continue;
      if (previous) built.push({ schema, table: name, index, replaces: true });
      else added.push(index);
    }
    const removed: SnapshotIndex[] = [];
    for (const index of Object.values(old)) {
      if (now[index.name]) continue;
      const twin = added.findIndex((a) => unnamed(a) === unnamed(index));
      const [renamedTo] = twin >= 0 ? added.splice(twin, 1) : [];
      if (renamedTo)
        changes.renamed.push({ schema, table: name, from: index.name, to: renamedTo.name });
      else removed.push(index);
    }
    built.push(...added.map((index) => ({ schema, table: name, index, replaces: false })));
    changes.built.push(...built);
    if (built.length > 0) {
      changes.dropped.push(...removed.map((index) => ({ schema, table: name, name: index.name })));
    }
  }
  return changes;
}

/** The online build's spec for an index as drizzle-kit's snapshot describes it. */
export function onlineSpecOf({
  schema,
  table,
  index,
}: Omit<TableIndex, 'replaces'>): OnlineIndexSpecInput {
  if (index.with && Object.keys(index.with).length > 0) {
    throw new PgpartsError(
      'migration',
      `pgparts: index ${index.name} on partitioned ${schema}.${table} has storage parameters ` +
        '(.with()), which an online build does not take; drop them from the schema, or build the ' +
        'index in a migration of your own',
    );
  }
  const method = index.method ?? 'btree';
  const columns = index.columns.map((column) => {
    const target = column.isExpression
      ? { expression: column.expression }
      : { column: column.expression };
    const opclass = column.opclass ? { opclass: column.opclass } : {};
    if (method !== 'btree') return { ...target, ...opclass };
    // Written only when not the default for the order (ASC: NULLS LAST, DESC: NULLS FIRST).
    const order = column.asc ? {} : { order: 'desc' as const };
    const nullsDefault = column.asc ? 'last' : 'first';
    const nulls =
      column.nulls && column.nulls !== nullsDefault
        ? { nulls: column.nulls as 'first' | 'last' }
        : {};
    return { ...target, ...opclass, ...order, ...nulls };
  });
  return {
    table: { schema, name: table },
    name: index.name,
    columns,
    unique: index.isUnique,
    ...(index.where ? { where: unqualified(index.where, schema, table) } : {}),
    ...(method !== 'btree' ? { using: method } : {}),
  };
}

/**
 * drizzle-kit writes a WHERE's columns qualified by the parent's name (`"events"."kind"`), which
 * a partition's index cannot use (it is on another table): the qualification is dropped.
 */
function unqualified(where: string, schema: string, table: string): string {
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  return where
    .replaceAll(`${quote(schema)}.${quote(table)}.`, '')
    .replaceAll(`${quote(table)}.`, '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** drizzle-kit's `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] "name" ON ...`. */
function createIndexPattern(name: string): RegExp {
  return new RegExp(
    `^CREATE (?:UNIQUE )?INDEX (?:CONCURRENTLY )?(?:IF NOT EXISTS )?${quotedName(name)} ON `,
  );
}

/** drizzle-kit's `DROP INDEX [CONCURRENTLY] [IF EXISTS] ["schema".]"name"` (with its `;`). */
function dropIndexPattern(name: string): RegExp {
  return new RegExp(
    `^DROP INDEX (?:CONCURRENTLY )?(?:IF EXISTS )?(?:"(?:[^"]|"")+"\\.)?${quotedName(name)}\\s*;?\\s*$`,
  );
}

function quotedName(name: string): string {
  return `"${escapeRegExp(name.replaceAll('"', '""'))}"`;
}

/**
 * `migration` (drizzle-kit's file of this run) without the CREATE INDEX statements of `created`
 * and the DROP INDEX statements of `dropped` (indexes the online migration builds, replaces,
 * renames or drops instead), every other statement kept and the file written back in its shape
 * (`breakpoints`, from its journal entry); refuses when one is not there (drizzle-kit wrote it
 * some other way).
 */
export function withoutIndexStatements(
  migration: string,
  indexes: { created: readonly string[]; dropped?: readonly string[] },
  breakpoints = true,
): string {
  const statements = migrationStatements(migration);
  // A statement's own text, after any comment lines before it.
  const text = (s: string) => s.replace(/^(?:\s*--[^\n]*\n)*\s*/, '');
  const wanted = [
    ...indexes.created.map((name) => ({
      pattern: createIndexPattern(name),
      missing: `no CREATE INDEX "${name}" to build online instead`,
    })),
    ...(indexes.dropped ?? []).map((name) => ({
      pattern: dropIndexPattern(name),
      missing: `no DROP INDEX "${name}" for the online migration to take over`,
    })),
  ];
  for (const { pattern, missing } of wanted) {
    if (!statements.some((s) => pattern.test(text(s)))) {
      throw new PgpartsError('migration', `pgparts: drizzle-kit's migration has ${missing}`);
    }
  }
  const kept = statements.filter((s) => !wanted.some(({ pattern }) => pattern.test(text(s))));
  return joinStatements(kept, breakpoints);
}
