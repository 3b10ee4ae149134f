import type { MigrationFile } from './journal.js';

/**
 * `CREATE TABLE|TYPE|SEQUENCE|VIEW [IF NOT EXISTS] ["schema".]"name"`, as drizzle-kit writes
 * them: the quoted schema when there is one.
 */
const CREATES =
  /\bCREATE\s+(?:UNLOGGED\s+)?(?:TABLE|TYPE|SEQUENCE|VIEW|MATERIALIZED\s+VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:"((?:[^"]|"")+)"\s*\.)?/gi;

/**
 * The schemas a folder's migrations create tables, types, sequences and views in: the quoted
 * schema drizzle-kit writes for a pgSchema table, `public` for an unqualified name (the first
 * schema of the default search_path). What `migrate`'s preflight asks CREATE on: an app whose
 * tables all live in a schema of its own needs none on `public`.
 */
export function createdSchemas(files: readonly MigrationFile[]): Set<string> {
  const schemas = new Set<string>();
  for (const file of files) {
    for (const match of file.text.matchAll(CREATES)) {
      schemas.add(match[1] === undefined ? 'public' : match[1].replaceAll('""', '"'));
    }
  }
  return schemas;
}
