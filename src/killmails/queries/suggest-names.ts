import { and, ilike, not, type SQL, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { AnyPgDatabase } from '../../core/database.js';
import { parseQueryInput } from '../../core/query-input.js';
import { alliances, characters, corporations, systems } from '../tables.js';
import { limitSchema } from './inputs.js';

export const NAME_KINDS = ['character', 'corporation', 'alliance', 'system'] as const;
export type NameKind = (typeof NAME_KINDS)[number];

/** Longer input is cut here: no name in the game is longer, and trigram work grows with it. */
export const MAX_SUGGEST_QUERY_LENGTH = 64;
/** Below this, pg_trgm finds no trigram inside `%ab%`; such input matches name prefixes only. */
const MIN_CONTAINS_LENGTH = 3;

export const suggestNamesInput = z
  .object({
    /** What the user typed, as typed: escaped here, never trusted. */
    query: z.string(),
    kinds: z
      .array(z.enum(NAME_KINDS))
      .min(1)
      .default([...NAME_KINDS]),
    limit: limitSchema(50, 10),
  })
  .strict();
export type SuggestNamesInput = z.input<typeof suggestNamesInput>;

export interface NameSuggestion {
  kind: NameKind;
  id: number;
  name: string;
}

const tables = {
  character: characters,
  corporation: corporations,
  alliance: alliances,
  system: systems,
};

/**
 * Normalises user input: control characters (NUL included, which PostgreSQL text refuses) go,
 * surrounding space goes, the length is capped. Empty means "no query".
 */
export function normaliseSuggestQuery(raw: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const cleaned = raw.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return cleaned.slice(0, MAX_SUGGEST_QUERY_LENGTH).trim();
}

/** Escapes LIKE's wildcards and its escape character, so `%`, `_` and `\` match themselves. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Past every character: `lower(name)` starting with p sorts below p || U+10FFFF under "C". */
const LAST_CHARACTER = 0x10ffff;

/**
 * The plan for a query, or null for empty input (nothing is run). Ranking: names starting with
 * the text (case-insensitive) first, in lower-case byte order, so an exact match leads; then,
 * for 3 characters or more, names containing it, nearest by pg_trgm distance (`<->`, 1 -
 * similarity); ties by name, kind, id. Two branches per kind, each cut to `limit` by its index
 * read in order, never by sorting every match:
 * - prefix: a range on `lower(name) COLLATE "C"` (btree idx_<table>_name_prefix), bounds
 *   computed in SQL from the bound parameter, so a generic plan keeps the index range;
 * - contains: `name ILIKE '%text%'` with `%`, `_` and `\` escaped, ordered by `name <-> text`
 *   (GiST idx_<table>_name_trgm: filter and order from one index).
 * The lookup tables are not partitioned: nothing to prune.
 */
export function suggestNamesQuery(db: AnyPgDatabase, input: SuggestNamesInput) {
  const i = parseQueryInput('suggestNames', suggestNamesInput, input);
  const text = normaliseSuggestQuery(i.query);
  if (text.length === 0) return null;
  const contains = `%${escapeLike(text)}%`;
  const branches = [...new Set(i.kinds)].flatMap((kind) => {
    const t = tables[kind];
    const sortName = sql<string>`lower(${t.name}) COLLATE "C"`;
    const low = sql`lower(${text}::text)`;
    const isPrefix = sql`(${sortName} >= ${low} AND ${sortName} < ${low} || chr(${sql.raw(String(LAST_CHARACTER))}))`;
    const columns = (rank: number, distance: SQL) => ({
      kind: sql<NameKind>`${kind}::text`.as('kind'),
      id: t.id,
      name: t.name,
      rank: sql<number>`${sql.raw(String(rank))}`.as('rank'),
      distance: sql<number>`${distance}`.as('distance'),
      sortName: sortName.as('sort_name'),
    });
    const prefix = db
      .select(columns(0, sql`0::real`))
      .from(t)
      .where(isPrefix)
      .orderBy(sortName, t.id)
      .limit(i.limit);
    if (text.length < MIN_CONTAINS_LENGTH) return [prefix];
    const distance = sql`${t.name} <-> ${text}::text`;
    const inside = db
      .select(columns(1, distance))
      .from(t)
      .where(and(ilike(t.name, contains), not(isPrefix)))
      .orderBy(distance, sortName, t.id)
      .limit(i.limit);
    return [prefix, inside];
  });
  const [first, ...rest] = branches;
  if (!first) return null;
  if (rest.length === 0) return first;
  const [second, ...others] = rest;
  return unionAll(first, second as typeof first, ...others)
    .orderBy(sql`rank, distance, sort_name, kind, id`)
    .limit(i.limit);
}

/** Name autosuggest over characters, corporations, alliances and systems. */
export async function suggestNames(
  db: AnyPgDatabase,
  input: SuggestNamesInput,
): Promise<NameSuggestion[]> {
  const query = suggestNamesQuery(db, input);
  if (!query) return [];
  const rows = await query;
  return rows.map((r) => ({ kind: r.kind, id: r.id, name: r.name }));
}
