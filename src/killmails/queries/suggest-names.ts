import { asc, desc, ilike, sql } from 'drizzle-orm';
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

/**
 * The plan for a query, or null for empty input (nothing is run). One branch per kind: names
 * containing the text (prefix only for 1-2 characters), ranked prefix matches first, then by
 * pg_trgm similarity, then by name; each branch keeps its best `limit` and the union keeps the
 * overall best. Index: each table's GIN gin_trgm_ops index (`name ILIKE $1`). The lookup tables
 * are not partitioned: nothing to prune.
 */
export function suggestNamesQuery(db: AnyPgDatabase, input: SuggestNamesInput) {
  const i = parseQueryInput('suggestNames', suggestNamesInput, input);
  const text = normaliseSuggestQuery(i.query);
  if (text.length === 0) return null;
  const prefix = `${escapeLike(text)}%`;
  const pattern = text.length < MIN_CONTAINS_LENGTH ? prefix : `%${escapeLike(text)}%`;
  const branches = [...new Set(i.kinds)].map((kind) => {
    const t = tables[kind];
    const isPrefix = sql<boolean>`${t.name} ILIKE ${prefix}`;
    const similarity = sql<number>`similarity(${t.name}, ${text})`;
    return db
      .select({
        kind: sql<NameKind>`${kind}::text`.as('kind'),
        id: t.id,
        name: t.name,
        isPrefix: isPrefix.as('is_prefix'),
        similarity: similarity.as('similarity'),
      })
      .from(t)
      .where(ilike(t.name, pattern))
      .orderBy(desc(isPrefix), desc(similarity), asc(t.name))
      .limit(i.limit);
  });
  const [first, ...rest] = branches;
  if (!first) return null;
  const ranked = sql`is_prefix DESC, similarity DESC, name, kind`;
  if (rest.length === 0) return first;
  const [second, ...others] = rest;
  return unionAll(first, second as typeof first, ...others)
    .orderBy(ranked)
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
