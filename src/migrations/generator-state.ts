import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Interval } from '../define/intervals.js';
import type { FamilySpec } from '../define/spec.js';
import { familyMigrationSql } from '../sql/partition-ddl.js';
import type { SqlObject } from './app-config.js';
import { type MigrationFile, sqlHash } from './journal.js';

/**
 * `out/pgparts.json`: what `pgparts generate` has written so far, in the migrations folder (drizzle-kit
 * reads every file of meta/ as a snapshot). It holds the hash of every journaled migration (an edited one is refused: a database
 * that applied it never sees the edit), and the families, extensions and objects already in a
 * migration, so each is written once, when it is new.
 */
export interface GeneratorState {
  version: 1;
  migrations: Record<string, string>;
  families: Record<string, FamilyShape>;
  extensions: string[];
  objects: Record<string, string>;
}

/** What of a family a migration fixes: the rest (premake, retention, naming) is apply's. */
export interface FamilyShape {
  tables: string[];
  strategy: 'list' | 'range';
  column: string;
  /**
   * RANGE: the interval the first partitions were migrated with. Absent from a state written
   * before it was recorded (not an error: generate then reads it from the earlier migrations).
   */
  interval?: Interval;
}

export function statePath(out: string): string {
  return join(out, 'pgparts.json');
}

export function familyShape(family: FamilySpec): FamilyShape {
  return {
    tables: [...family.tables],
    strategy: family.partitionBy.strategy,
    column: family.partitionBy.column,
    ...(family.partitionBy.strategy === 'range' ? { interval: family.partitionBy.interval } : {}),
  };
}

export function objectHash(object: SqlObject): string {
  return sqlHash(object.sql.join('\n;\n'));
}

export function readState(out: string): GeneratorState | undefined {
  const path = statePath(out);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as GeneratorState;
}

export function stateText(state: GeneratorState): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

/** Writes the state when it changed; true when it did. */
export function writeState(out: string, state: GeneratorState): boolean {
  const path = statePath(out);
  const text = stateText(state);
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return false;
  writeFileSync(path, text);
  return true;
}

const extensionPattern = (name: string) =>
  new RegExp(`CREATE EXTENSION IF NOT EXISTS "?${name}"?`, 'i');

/**
 * A folder that has migrations but no state yet (written before pgparts generate existed, by
 * hand or by an older generator): what its migrations already contain counts as written. A family
 * or an object is recognised when every one of its statements is in a journaled migration
 * verbatim, an extension by its CREATE EXTENSION.
 */
export function adoptState(
  files: readonly MigrationFile[],
  families: readonly FamilySpec[],
  extensions: readonly string[],
  objects: readonly SqlObject[],
): GeneratorState {
  const all = files.map((f) => f.text).join('\n');
  const state: GeneratorState = {
    version: 1,
    migrations: {},
    families: {},
    extensions: [],
    objects: {},
  };
  for (const family of families) {
    if (familyMigrationSql(family).every((s) => all.includes(s))) {
      state.families[family.name] = familyShape(family);
    }
  }
  for (const name of extensions) if (extensionPattern(name).test(all)) state.extensions.push(name);
  for (const object of objects) {
    if (object.sql.every((s) => all.includes(s))) state.objects[object.name] = objectHash(object);
  }
  return state;
}

/** Journaled migrations whose text is not what the state recorded for them. */
export function editedMigrations(files: readonly MigrationFile[], state: GeneratorState): string[] {
  return files
    .filter((f) => state.migrations[f.tag] !== undefined && state.migrations[f.tag] !== f.hash)
    .map((f) => f.tag);
}
