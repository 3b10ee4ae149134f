import { PgpartsError } from '../errors.js';
/**
 * Literals that must appear inside DDL, where PostgreSQL accepts no bind parameters
 * (partition bounds, comments). Values are typed (integers, UTC instants, fixed strings), never
 * free text, and are rendered here and only here.
 */

/** A partition bound for a LIST of integers: only safe integers pass. */
export function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) {
    throw new PgpartsError('invalid-input', `pgparts: ${value} is not an integer partition value`);
  }
  return String(value);
}

/** A LIST partition value: integers as integers, text as a quoted string literal. */
export function listValueLiteral(value: number | string): string {
  return typeof value === 'number' ? integerLiteral(value) : textLiteral(value);
}

/**
 * A timestamptz literal with an explicit +00 offset, so the bound means the same instant whatever
 * the session TimeZone (a bound without offset is read in the session's zone).
 */
export function utcTimestampLiteral(instant: Date): string {
  if (Number.isNaN(instant.getTime()))
    throw new PgpartsError('invalid-input', 'pgparts: invalid date in a partition bound');
  const iso = instant.toISOString(); // 2026-11-01T00:00:00.000Z
  return `'${iso.slice(0, 10)} ${iso.slice(11, 19)}+00'`;
}

/**
 * A string literal: quotes doubled; text holding a backslash written as an escape string
 * (E'...', backslashes doubled), as quote_literal does, so it reads the same whether or not the
 * server has standard_conforming_strings (off, a backslash in '...' escapes what follows: a
 * LIST value read from `valuesFrom` that ended in one would end the literal early).
 */
export function textLiteral(value: string): string {
  const quoted = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/**
 * `body` as a dollar-quoted string (a DO block's, a function's): the tag is `$pgparts$`, or
 * `$pgparts_<n>$` with the first n whose tag does not occur in `body` (nor across its end), so
 * nothing in the body (a name quoted inside it) can end it early.
 */
export function dollarQuoted(body: string): string {
  // The string ends where its tag is first found again: that must be the closing one.
  const ends = (tag: string) => `${body}${tag}`.indexOf(tag) === body.length;
  let tag = '$pgparts$';
  for (let n = 1; !ends(tag); n += 1) tag = `$pgparts_${n}$`;
  return `${tag}${body}${tag}`;
}
