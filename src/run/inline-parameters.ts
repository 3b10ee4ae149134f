import { rememberRecent } from '../catalog/recent.js';
import { followsName, skipQuoted } from '../sql/lexer.js';
import { textLiteral } from '../sql/literals.js';

/**
 * `text` with its parameters ($1, $2, ...) written in as literals, or null when one of them is
 * of a kind not handled here (an array, a Date, bytes: the statement is then sent as it is).
 *
 * Why (postgres.js): a statement with parameters that is not yet prepared on its connection is
 * sent in two round trips, its parameter types asked for first, and nothing is sent behind it
 * meanwhile. On a new connection (a cron job's, the CLI's, an app's start-up) every statement of
 * a run is new: a no-op maintenance took 19 round trips instead of 3. Without parameters a
 * statement goes out in one, pipelined with the others.
 *
 * Each value is written as PostgreSQL would read the parameter postgres.js sends: a string or a
 * number as a quoted literal of unknown type (the statement's casts type it, as they type the
 * parameter), true/false, NULL. Strings through textLiteral (escape syntax for a backslash, so
 * standard_conforming_strings does not matter). Only `$n` outside quoted text, quoted names,
 * dollar-quoted bodies and comments is a parameter.
 */
export function inlineParameters(text: string, parameters: readonly unknown[]): string | null {
  const literals: string[] = [];
  for (const value of parameters) {
    const literal = literalOf(value);
    if (literal === null) return null;
    literals.push(literal);
  }
  const split = splitAtParameters(text);
  if (split === null) return null;
  let out = split.chunks[0] ?? '';
  for (let k = 0; k < split.numbers.length; k += 1) {
    const literal = literals[(split.numbers[k] ?? 0) - 1];
    if (literal === undefined) return null;
    out += `(${literal})${split.chunks[k + 1] ?? ''}`;
  }
  return out;
}

/** A text cut at its parameters: chunks[0], $numbers[0], chunks[1], ... */
interface Split {
  chunks: string[];
  numbers: number[];
}

/** Texts already cut (pgparts's statements are few): the scan runs once per text. */
const splits = new Map<string, Split | null>();
const MAX_SPLITS = 512;

function splitAtParameters(text: string): Split | null {
  const known = splits.get(text);
  if (known !== undefined) return known;
  const split = scan(text);
  rememberRecent(splits, text, split, MAX_SPLITS);
  return split;
}

function scan(text: string): Split | null {
  const chunks: string[] = [];
  const numbers: number[] = [];
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const skipped = skipQuoted(text, i);
    if (skipped !== null) {
      i = skipped;
      continue;
    }
    const number =
      text[i] === '$' && !followsName(text, i)
        ? /^\$(\d+)/.exec(text.slice(i, i + 12))?.[1]
        : undefined;
    if (number !== undefined) {
      chunks.push(text.slice(from, i));
      numbers.push(Number(number));
      i += number.length + 1;
      from = i;
    } else {
      i += 1;
    }
  }
  chunks.push(text.slice(from));
  // No parameter found outside quotes (an unterminated one ran to the end): sent as it is.
  return numbers.length > 0 ? { chunks, numbers } : null;
}

function literalOf(value: unknown): string | null {
  if (value === null) return 'NULL';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return textLiteral(value);
  if (typeof value === 'number' && Number.isFinite(value)) return `'${String(value)}'`;
  return null;
}
