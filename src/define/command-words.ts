import { argumentOfLabel, keyArgument, type PartitionKey } from './partition-key.js';
import type { FamilySpec } from './spec.js';

/**
 * The words of a pgparts command that messages suggest (`pgparts drain <table> <key>`), written
 * so that pasting the command into a POSIX shell runs it: a word with anything but letters,
 * digits and `_@%+=:,./-` is single-quoted (`'ap south'`, `'O'\''Brien'`, `''`).
 */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * A family table as the CLI's `<table>` takes it: its name alone where that names one table of
 * the families given, else `schema.table`; without the families, qualified outside `public`.
 */
export function tableArgument(
  family: Pick<FamilySpec, 'schema'>,
  table: string,
  families?: readonly Pick<FamilySpec, 'tables'>[],
): string {
  const sharing = families?.filter((f) => f.tables.includes(table)).length;
  const bare = sharing === undefined ? family.schema === 'public' : sharing <= 1;
  return shellWord(bare ? table : `${family.schema}.${table}`);
}

/** The family's first table as the CLI's `<table>` takes it: what names the family there. */
export function familyArgument(family: Pick<FamilySpec, 'schema' | 'tables' | 'name'>): string {
  return tableArgument(family, family.tables[0] ?? family.name);
}

/** A recorded key label (`2026-11-01..2026-12-01`) as the CLI's `<key>` takes it, shell-quoted. */
export function labelWord(family: FamilySpec, label: string): string {
  return shellWord(argumentOfLabel(family, label));
}

/** A key as the CLI's `<key>` takes it, shell-quoted where needed. */
export function keyWord(key: PartitionKey): string {
  return shellWord(keyArgument(key));
}
