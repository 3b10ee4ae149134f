import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PgpartsError } from '../errors.js';
import { isOnlineMigration } from '../ops/online-index-migration.js';

/**
 * A drizzle-kit migrations folder as pgparts reads it: `meta/_journal.json` lists the migrations
 * in order, each `<tag>.sql` holds statements separated by `--> statement-breakpoint`. The hash is
 * drizzle's own (sha256 of the file text), so records written by either tool compare equal.
 */

export const STATEMENT_BREAKPOINT = '--> statement-breakpoint';

export interface JournalEntry {
  idx: number;
  version: string;
  when: number;
  tag: string;
  breakpoints: boolean;
}

export interface MigrationFile {
  tag: string;
  /** The journal's `when`: what drizzle records as created_at. */
  when: number;
  hash: string;
  text: string;
  statements: string[];
  /** Starts with `-- pgparts:online`: indexes built online, outside a transaction (runner.ts). */
  online: boolean;
}

export function journalPath(folder: string): string {
  return join(folder, 'meta', '_journal.json');
}

/**
 * The journal's entries; none when the folder has no journal yet (generate starts from there).
 * With `required` (migrate), a folder without a journal is refused: a wrong `out` or appFolder
 * must not read as "nothing pending".
 */
export function readJournal(folder: string, options: { required?: boolean } = {}): JournalEntry[] {
  const path = journalPath(folder);
  if (!existsSync(path)) {
    if (options.required) throw missingJournal(folder);
    return [];
  }
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { entries?: JournalEntry[] };
  return parsed.entries ?? [];
}

export function sqlHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function splitStatements(text: string): string[] {
  return text
    .split(STATEMENT_BREAKPOINT)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function missingJournal(folder: string): PgpartsError {
  const what = existsSync(folder)
    ? `it has no ${join('meta', '_journal.json')}`
    : 'the folder does not exist';
  return new PgpartsError(
    'invalid-config',
    `pgparts: migrate: no migrations in ${folder}: ${what}; nothing was applied. Check the ` +
      "drizzle.config `out` (or migrate()'s appFolder), or run `pgparts generate` first",
  );
}

/** Every journaled migration of `folder`, in journal order; `required` as for readJournal. */
export function readMigrations(
  folder: string,
  options: { required?: boolean } = {},
): MigrationFile[] {
  return readJournal(folder, options).map((entry) => {
    const path = join(folder, `${entry.tag}.sql`);
    if (!existsSync(path)) {
      throw new PgpartsError(
        'migration',
        `pgparts: ${path} is in the journal but the file is missing`,
      );
    }
    const text = readFileSync(path, 'utf8');
    return {
      tag: entry.tag,
      when: entry.when,
      hash: sqlHash(text),
      text,
      statements: splitStatements(text),
      online: isOnlineMigration(text),
    };
  });
}
