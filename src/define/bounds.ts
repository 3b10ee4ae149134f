import { addIntervals, type Interval, intervalStart } from './intervals.js';
import type { PartitionKey } from './partition-key.js';

/**
 * Reading partition bounds back from the catalog. `pg_get_expr(relpartbound, 0)` prints
 * constants in the session's TimeZone and DateStyle; the catalog reads them with TimeZone UTC
 * and DateStyle ISO (see catalog.ts), so the timestamps parsed here are ISO with a +00 offset.
 * Offsets other than +00 are understood all the same.
 */

/** One bound item as printed: a literal (quotes removed), NULL, MINVALUE or MAXVALUE. */
export type BoundItem =
  | { kind: 'literal'; text: string }
  | { kind: 'null' }
  | { kind: 'minvalue' }
  | { kind: 'maxvalue' };

export type ParsedBound =
  | { kind: 'default' }
  | { kind: 'list'; values: BoundItem[] }
  | { kind: 'range'; from: BoundItem[]; to: BoundItem[] }
  | { kind: 'hash'; text: string }
  | { kind: 'unknown'; text: string };

/** Splits `('a', 3, MINVALUE)` into items; undefined when the text is not such a list. */
function parseItems(text: string): BoundItem[] | undefined {
  const items: BoundItem[] = [];
  let i = 0;
  const skipSpace = () => {
    while (text[i] === ' ') i += 1;
  };
  skipSpace();
  if (text[i] !== '(') return undefined;
  i += 1;
  for (;;) {
    skipSpace();
    if (text[i] === "'") {
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        value += text[i];
        i += 1;
      }
      // A cast may follow a literal in some server versions: '...'::type.
      const cast = /^::[a-z0-9_ ."]+(\[\])?/i.exec(text.slice(i));
      if (cast) i += cast[0].length;
      items.push({ kind: 'literal', text: value });
    } else {
      const word = /^[A-Za-z0-9_.+-]+/.exec(text.slice(i));
      if (!word) return undefined;
      i += word[0].length;
      const upper = word[0].toUpperCase();
      if (upper === 'NULL') items.push({ kind: 'null' });
      else if (upper === 'MINVALUE') items.push({ kind: 'minvalue' });
      else if (upper === 'MAXVALUE') items.push({ kind: 'maxvalue' });
      else items.push({ kind: 'literal', text: word[0] });
    }
    skipSpace();
    if (text[i] === ',') {
      i += 1;
      continue;
    }
    if (text[i] === ')') {
      i += 1;
      break;
    }
    return undefined;
  }
  if (text.slice(i).trim() !== '') return undefined;
  return items;
}

/** Parses what `pg_get_expr(relpartbound, 0)` prints. */
export function parseBound(text: string): ParsedBound {
  const trimmed = text.trim();
  if (trimmed === 'DEFAULT') return { kind: 'default' };
  const list = /^FOR VALUES IN\s*(\(.*\))$/s.exec(trimmed);
  if (list?.[1]) {
    const values = parseItems(list[1]);
    return values ? { kind: 'list', values } : { kind: 'unknown', text: trimmed };
  }
  const range = /^FOR VALUES FROM\s*(\(.*\))\s+TO\s*(\(.*\))$/s.exec(trimmed);
  if (range?.[1] && range[2]) {
    const from = parseItems(range[1]);
    const to = parseItems(range[2]);
    return from && to ? { kind: 'range', from, to } : { kind: 'unknown', text: trimmed };
  }
  if (trimmed.startsWith('FOR VALUES WITH')) return { kind: 'hash', text: trimmed };
  return { kind: 'unknown', text: trimmed };
}

const TIMESTAMP =
  /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?)?(?:([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?$/;

/**
 * An ISO date or timestamp as PostgreSQL prints it with DateStyle ISO; without an offset it is
 * taken as UTC (a `timestamp` or `date` key column). undefined for anything else (infinity, BC).
 */
export function parseTimestamp(text: string): Date | undefined {
  const m = TIMESTAMP.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', sign, oh = '0', om = '0', os = '0'] = m;
  const ms = frac ? Math.round(Number(`0${frac}`) * 1000) : 0;
  const utc = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const offset = (Number(oh) * 3600 + Number(om) * 60 + Number(os)) * 1000;
  const date = new Date(sign === '-' ? utc + offset : utc - offset);
  if (Number.isNaN(date.getTime())) return undefined;
  // Date.UTC treats years 0-99 as 1900-1999; such bounds are not ours to manage.
  if (Number(y) < 100) return undefined;
  return date;
}

/** An integer LIST value as printed (negative values come quoted); undefined if not one. */
export function parseIntegerValue(item: BoundItem): number | undefined {
  if (item.kind !== 'literal' || !/^-?\d+$/.test(item.text)) return undefined;
  const value = Number(item.text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * The one key a partition holds, as the planner understands keys: a single integer LIST value,
 * or a single-column RANGE with finite timestamp bounds. undefined for everything else (several
 * values, MINVALUE, text keys...), which the catalog reports instead.
 */
export function boundKey(bound: ParsedBound): PartitionKey | undefined {
  switch (bound.kind) {
    case 'default':
      return { kind: 'default' };
    case 'list': {
      if (bound.values.length !== 1 || !bound.values[0]) return undefined;
      const item = bound.values[0];
      const value = parseIntegerValue(item) ?? (item.kind === 'literal' ? item.text : undefined);
      return value === undefined ? undefined : { kind: 'list', value };
    }
    case 'range': {
      const [from] = bound.from;
      const [to] = bound.to;
      if (bound.from.length !== 1 || bound.to.length !== 1) return undefined;
      if (from?.kind !== 'literal' || to?.kind !== 'literal') return undefined;
      const fromDate = parseTimestamp(from.text);
      const toDate = parseTimestamp(to.text);
      if (!fromDate || !toDate || fromDate >= toDate) return undefined;
      return { kind: 'range', from: fromDate, to: toDate };
    }
    default:
      return undefined;
  }
}

/** True when a RANGE key is exactly one interval of the spec's grid. */
export function isAlignedRange(interval: Interval, key: { from: Date; to: Date }): boolean {
  const start = intervalStart(interval, key.from);
  return (
    start.getTime() === key.from.getTime() &&
    addIntervals(interval, start, 1).getTime() === key.to.getTime()
  );
}

/** A stable identity for a key, for maps: `l:14`, `r:1793491200000`, `default`. */
export function keyId(key: PartitionKey): string {
  switch (key.kind) {
    case 'default':
      return 'default';
    case 'list':
      return `l:${key.value}`;
    case 'range':
      return `r:${key.from.getTime()}:${key.to.getTime()}`;
  }
}

/** Orders keys: DEFAULT first, LIST by value (integers, then text), RANGE by start. */
export function compareKeys(a: PartitionKey, b: PartitionKey): number {
  const rank = (k: PartitionKey): [number, number | string] =>
    k.kind === 'default'
      ? [0, 0]
      : k.kind === 'list'
        ? typeof k.value === 'number'
          ? [1, k.value]
          : [2, k.value]
        : [3, k.from.getTime()];
  const [ka, va] = rank(a);
  const [kb, vb] = rank(b);
  if (ka !== kb) return ka < kb ? -1 : 1;
  return va === vb ? 0 : va < vb ? -1 : 1;
}

/**
 * The instants a single-column RANGE bound covers, [from, to) in ms, MINVALUE and MAXVALUE as
 * infinities; undefined when the bound is not such a range (or its literals are not timestamps).
 */
export function rangeSpan(bound: ParsedBound): { from: number; to: number } | undefined {
  if (bound.kind !== 'range' || bound.from.length !== 1 || bound.to.length !== 1) return undefined;
  const edge = (item: BoundItem | undefined): number | undefined => {
    if (item?.kind === 'minvalue') return Number.NEGATIVE_INFINITY;
    if (item?.kind === 'maxvalue') return Number.POSITIVE_INFINITY;
    if (item?.kind !== 'literal') return undefined;
    return parseTimestamp(item.text)?.getTime();
  };
  const from = edge(bound.from[0]);
  const to = edge(bound.to[0]);
  return from === undefined || to === undefined ? undefined : { from, to };
}

/** The integer values a LIST bound holds (others, such as NULL or text, are left out). */
export function listValues(bound: ParsedBound): number[] {
  if (bound.kind !== 'list') return [];
  return bound.values.flatMap((item) => {
    const value = parseIntegerValue(item);
    return value === undefined ? [] : [value];
  });
}

/**
 * Whether the bound `pg_get_expr(relpartbound, 0)` printed (read with TimeZone UTC and DateStyle
 * ISO) holds exactly `key`. Compared by meaning, not text: the server prints a bound by the key
 * column's type ('2026-10-01 00:00:00+00' for timestamptz, '2026-10-01 00:00:00' for timestamp,
 * '2026-10-01' for date; 5 for integer, '5' for bigint), and pgparts reads a timestamp without
 * zone as UTC, as it writes it. A text LIST value must match exactly: 'EU' is not 'eu'.
 */
export function boundHoldsKey(text: string, key: PartitionKey): boolean {
  const bound = parseBound(text);
  switch (key.kind) {
    case 'default':
      return bound.kind === 'default';
    case 'list': {
      if (bound.kind !== 'list' || bound.values.length !== 1) return false;
      const [item] = bound.values;
      return item?.kind === 'literal' && item.text === String(key.value);
    }
    case 'range': {
      if (bound.kind !== 'range' || bound.from.length !== 1 || bound.to.length !== 1) return false;
      const [from] = bound.from;
      const [to] = bound.to;
      if (from?.kind !== 'literal' || to?.kind !== 'literal') return false;
      return (
        parseTimestamp(from.text)?.getTime() === key.from.getTime() &&
        parseTimestamp(to.text)?.getTime() === key.to.getTime()
      );
    }
  }
}

/**
 * A piece of text every printing of `key`'s bound holds (whatever the column's type), for a
 * catalog read to keep only candidates before boundHoldsKey decides: the start date of a RANGE
 * key, a LIST value with its quotes doubled, as the server prints it inside a literal.
 */
export function boundNeedle(key: PartitionKey): string {
  switch (key.kind) {
    case 'default':
      return 'DEFAULT';
    case 'list':
      return String(key.value).replaceAll("'", "''");
    case 'range':
      return key.from.toISOString().slice(0, 10);
  }
}
