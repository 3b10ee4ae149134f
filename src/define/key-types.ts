import { type FamilySpec, listValueType } from './spec.js';

/**
 * The column types a partition key may have, by strategy: what the engine's bounds, literals and
 * key arguments are written for. The one rule, used at catalog time (plan/spec-checks.ts, with
 * format_type's text) and by generate (migrations/key-types.ts, with drizzle-kit's type names).
 */
const KEY_TYPES = {
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

/** The types `family`'s key column may have, in format_type's spelling. */
export function acceptedKeyTypes(family: FamilySpec): readonly string[] {
  const p = family.partitionBy;
  return p.strategy === 'range' ? KEY_TYPES.range : KEY_TYPES[listValueType(p)];
}

/** `a, b or c`. */
function orList(items: readonly string[]): string {
  return items.length < 2
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/**
 * Why a key column of type `type` cannot carry `family`'s partitions (an enum, a RANGE on an id,
 * text values on an integer column), or undefined when it can. `type` is format_type's text or
 * drizzle-kit's name; the message shows it as given.
 */
export function keyTypeProblem(family: FamilySpec, type: string): string | undefined {
  const accepted = acceptedKeyTypes(family);
  if (accepted.includes(baseKeyType(type))) return undefined;
  const p = family.partitionBy;
  const what =
    p.strategy === 'range'
      ? 'RANGE families (bounds are dates and times)'
      : `LIST families with ${listValueType(p)} values`;
  const problem = `partition key ${p.column} is ${type}; ${what} need ${orList(accepted)}`;
  if (p.strategy !== 'list') return problem;
  // The column fits the other kind of LIST: the values (or valueType) are what is wrong.
  const other = listValueType(p) === 'text' ? 'integer' : 'text';
  if (!KEY_TYPES[other].some((t) => t === baseKeyType(type))) return problem;
  return `${problem} (the column takes ${other} values: give them as ${other === 'integer' ? 'numbers' : 'strings'}, or set valueType: '${other}')`;
}
