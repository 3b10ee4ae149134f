import { and, ilike, not, type SQL, sql } from 'drizzle-orm';
import { unionAll } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import { parseQueryInput, runQuery } from '../../../query/input.js';
import type { AnyPgDatabase } from '../../../run/database.js';
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

/** `lower(name)` in byte order, as idx_<table>_name_prefix stores it. */
function collated(expression: SQL): SQL<string> {
  return sql<string>`${expression} COLLATE "C"`;
}

/** `value` starts with lower(text): a range, so an index on `value` serves it. */
function startsWith(value: SQL, text: string): SQL {
  const low = sql`lower(${text}::text)`;
  const end = sql`${low} || chr(${sql.raw(String(LAST_CHARACTER))})`;
  return sql`(${collated(value)} >= ${low} AND ${collated(value)} < ${end})`;
}

/**
 * The query, or null for empty input (nothing is run). Ranking: names starting with the text
 * (case-insensitive) first, then, for 3 characters or more, names containing it; each group by
 * lower-case name in byte order (an exact match leads), then kind, then id. Per kind, two
 * branches cut at `limit`, served by idx_<table>_name_prefix, (lower(name) COLLATE "C", id)
 * INCLUDE (name), and the GIN trigram index:
 * - prefix: a range on lower(name), read in order, index-only;
 * - contains: `name ILIKE '%text%'` (`%`, `_` and `\` escaped). For a common fragment the
 *   planner walks the btree in order, filtering the included name, and stops at the limit; for
 *   a rare one it fetches the few matches through GIN and sorts them. It tells them apart by the
 *   name column's statistics (target 1000, set by the partition migration), which needs the
 *   text at plan time: Drizzle runs the query unprepared (only `.prepare(name)` makes a named
 *   statement), so every call gets a plan for its own text. Prepared by hand under a generic
 *   plan, a rare fragment could be walked through the whole index.
 * The lookup tables are not partitioned: nothing to prune.
 */
export function suggestNamesQuery(db: AnyPgDatabase, input: SuggestNamesInput) {
  const i = parseQueryInput('suggestNames', suggestNamesInput, input);
  const text = normaliseSuggestQuery(i.query);
  if (text.length === 0) return null;
  const contains = `%${escapeLike(text)}%`;
  const branches = [...new Set(i.kinds)].flatMap((kind) => {
    const t = tables[kind];
    const lowered = sql<string>`lower(${t.name})`;
    const columns = (rank: number) => ({
      kind: sql<NameKind>`${kind}::text`.as('kind'),
      id: t.id,
      name: t.name,
      rank: sql<number>`${sql.raw(String(rank))}`.as('rank'),
      sortName: collated(lowered).as('sort_name'),
    });
    const prefix = db
      .select(columns(0))
      .from(t)
      .where(startsWith(lowered, text))
      .orderBy(collated(lowered), t.id)
      .limit(i.limit);
    if (text.length < MIN_CONTAINS_LENGTH) return [prefix];
    const inside = db
      .select(columns(1))
      .from(t)
      .where(and(ilike(t.name, contains), not(startsWith(lowered, text))))
      .orderBy(collated(lowered), t.id)
      .limit(i.limit);
    return [prefix, inside];
  });
  const [first, ...rest] = branches;
  if (!first) return null;
  if (rest.length === 0) return first;
  const [second, ...others] = rest;
  return unionAll(first, second as typeof first, ...others)
    .orderBy(sql`rank, sort_name, kind, id`)
    .limit(i.limit);
}

/**
 * Name autosuggest over characters, corporations, alliances and systems (see suggestNamesQuery
 * for the ranking and the plans). Similarity ranking was measured and dropped: ordering by
 * pg_trgm similarity scores every match (GIN) or walks a lossy GiST tree, p50 40-60 ms at 1M
 * names, where this reads about `limit` index entries per branch.
 */
export async function suggestNames(
  db: AnyPgDatabase,
  input: SuggestNamesInput,
): Promise<NameSuggestion[]> {
  const query = suggestNamesQuery(db, input);
  if (!query) return [];
  const rows = await runQuery('suggestNames', () => query);
  return rows.map((r) => ({ kind: r.kind, id: r.id, name: r.name }));
}
