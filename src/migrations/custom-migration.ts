import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { journalPath } from './journal.js';

/** How the app's drizzle.config names and splits migrations (drizzle-kit's defaults: index, true). */
export interface JournalShape {
  /** `migrations.prefix`: index, timestamp, supabase, unix or none. */
  prefix: string;
  /** `breakpoints`: statements separated by `--> statement-breakpoint`. */
  breakpoints: boolean;
}

/** What drizzle-kit writes into a custom migration's file before pgparts fills it. */
const CUSTOM_PLACEHOLDER = '-- Custom SQL migration file, put your code below! --';

interface Journal {
  entries: { idx: number; version: string; when: number; tag: string; breakpoints: boolean }[];
}

/**
 * What `drizzle-kit generate --custom --name <name>` writes, written here instead of launching
 * drizzle-kit (a second or so of loading it and the app's schema, for an empty file): the
 * journal's entry, a copy of the last snapshot under a new id chained to it (a custom migration
 * changes no schema), and `<tag>.sql`. Only for a folder of the shape drizzle-kit writes by
 * default (index prefixes, a journal with at least one migration and its snapshot); returns
 * null otherwise, and drizzle-kit is run instead. test/migrations/custom-migration.test.ts
 * compares the result with drizzle-kit's own, so a change of its format is caught.
 */
export function addCustomMigration(out: string, name: string, shape: JournalShape): string | null {
  if (shape.prefix !== 'index' || !/^[a-z0-9_]+$/.test(name)) return null;
  const path = journalPath(out);
  if (!existsSync(path)) return null;
  const journal = JSON.parse(readFileSync(path, 'utf8')) as Journal;
  const last = journal.entries?.at(-1);
  if (!last) return null;
  const meta = join(out, 'meta');
  const snapshots = readdirSync(meta)
    .filter((file) => !file.startsWith('_'))
    .sort();
  const previous = snapshots.at(-1);
  const idx = last.idx + 1;
  const prefix = String(idx).padStart(4, '0');
  const tag = `${prefix}_${name}`;
  const snapshotFile = join(meta, `${prefix}_snapshot.json`);
  const sqlFile = join(out, `${tag}.sql`);
  if (!previous || existsSync(snapshotFile) || existsSync(sqlFile)) return null;
  const before = JSON.parse(readFileSync(join(meta, previous), 'utf8')) as {
    id?: unknown;
    version?: unknown;
  } & Record<string, unknown>;
  if (typeof before.id !== 'string' || typeof before.version !== 'string') return null;
  // The previous snapshot under a new id chained to it (its keys stay where they were).
  const snapshot = {
    ...before,
    id: randomUUID(),
    prevId: before.id,
    _meta: { columns: {}, schemas: {}, tables: {} },
  };
  writeFileSync(snapshotFile, JSON.stringify(snapshot, null, 2));
  journal.entries.push({
    idx,
    version: before.version,
    // Later than the entry before, always: drizzle's migrator applies an entry only when its
    // time is past the last applied one's, and two entries can be written in one millisecond.
    when: Math.max(Date.now(), last.when + 1),
    tag,
    breakpoints: shape.breakpoints,
  });
  writeFileSync(path, JSON.stringify(journal, null, 2));
  writeFileSync(sqlFile, CUSTOM_PLACEHOLDER);
  return tag;
}
