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
  if (splits.size >= MAX_SPLITS) splits.clear();
  splits.set(text, split);
  return split;
}

function scan(text: string): Split | null {
  const chunks: string[] = [];
  const numbers: number[] = [];
  let from = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    const next = text[i + 1];
    let end = i + 1;
    if (c === "'" || c === '"') end = closing(text, i, c);
    else if (c === '-' && next === '-') end = lineEnd(text, i);
    else if (c === '/' && next === '*') end = commentEnd(text, i);
    else if (c === '$' && !/[A-Za-z0-9_$]/.test(text[i - 1] ?? ' ')) {
      // A parameter only where it does not continue a name (a$1 is an identifier).
      const number = /^\$(\d+)/.exec(text.slice(i, i + 12))?.[1];
      if (number !== undefined) {
        chunks.push(text.slice(from, i));
        numbers.push(Number(number));
        i += number.length + 1;
        from = i;
        continue;
      }
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))?.[0];
      if (tag !== undefined) {
        const close = text.indexOf(tag, i + tag.length);
        // An unterminated body: not pgparts's own text, left alone.
        if (close < 0) return null;
        end = close + tag.length;
      }
    }
    i = end;
  }
  chunks.push(text.slice(from));
  return { chunks, numbers };
}

function literalOf(value: unknown): string | null {
  if (value === null) return 'NULL';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return textLiteral(value);
  if (typeof value === 'number' && Number.isFinite(value)) return `'${String(value)}'`;
  return null;
}

/** Past the quote that closes the one at `start` (a doubled quote is part of the text). */
function closing(text: string, start: number, quote: string): number {
  // E'...' (a backslash escapes the next character) when the quote follows a lone E.
  const escapes = quote === "'" && /(^|[^A-Za-z0-9_])[eE]$/.test(text.slice(0, start));
  for (let i = start + 1; i < text.length; i += 1) {
    if (escapes && text[i] === '\\') {
      i += 1;
      continue;
    }
    if (text[i] === quote) {
      if (text[i + 1] === quote) {
        i += 1;
        continue;
      }
      return i + 1;
    }
  }
  return text.length;
}

function lineEnd(text: string, start: number): number {
  const end = text.indexOf('\n', start);
  return end < 0 ? text.length : end;
}

/** Past the end of a block comment, nested ones included. */
function commentEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length - 1; i += 1) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth += 1;
      i += 1;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth -= 1;
      i += 1;
      if (depth === 0) return i + 1;
    }
  }
  return text.length;
}
