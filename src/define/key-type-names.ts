// Partition key column types by name: the types each kind of key may have, and their spellings.
// Knows no family, so spec.ts can read it to take a LIST's value type from its Drizzle column.

/**
 * The column types a partition key may have, by strategy: what the engine's bounds, literals and
 * key arguments are written for. The one rule, used at catalog time (plan/spec-checks.ts, with
 * format_type's text) and by generate (migrations/key-types.ts, with drizzle-kit's type names).
 */
export const KEY_TYPES = {
  /** RANGE bounds are instants at interval starts. */
  range: ['timestamp with time zone', 'timestamp without time zone', 'date'],
  /** An integer LIST (season ids, tenant numbers). */
  integer: ['smallint', 'integer', 'bigint'],
  /** A text LIST (regions, tenant slugs): values compare as text. */
  text: ['text', 'character varying', 'character'],
} as const;

/** drizzle-kit's and other short spellings of the accepted types, as format_type prints them. */
const ALIASES: Record<string, string> = {
  int: 'integer',
  int2: 'smallint',
  int4: 'integer',
  int8: 'bigint',
  serial: 'integer',
  serial4: 'integer',
  smallserial: 'smallint',
  serial2: 'smallint',
  bigserial: 'bigint',
  serial8: 'bigint',
  varchar: 'character varying',
  char: 'character',
  bpchar: 'character',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
};

/**
 * A type name without its length or precision (`character varying(20)`, drizzle's `varchar(20)`
 * or `timestamp (3) with time zone`), in format_type's spelling: a key's bounds and values do not
 * depend on them.
 */
export function baseKeyType(type: string): string {
  const base = type
    .trim()
    .toLowerCase()
    .replace(/\s*\(\s*\d+\s*(,\s*\d+\s*)?\)/g, '')
    .replace(/\s+/g, ' ');
  return ALIASES[base] ?? base;
}

/** The LIST value type a column of `type` carries: text or integer, or undefined for neither. */
export function listValueTypeOfColumn(type: string): 'integer' | 'text' | undefined {
  const base = baseKeyType(type);
  if (KEY_TYPES.text.some((t) => t === base)) return 'text';
  if (KEY_TYPES.integer.some((t) => t === base)) return 'integer';
  return undefined;
}
