import { STATEMENT_BREAKPOINT } from './journal.js';

/**
 * The statements of a migration file, in both shapes drizzle-kit writes: separated by
 * `--> statement-breakpoint` lines, or (drizzle.config `breakpoints: false`) only by the `;`
 * ending each one. A `;` inside a string, a quoted name, a dollar-quoted body or a comment ends
 * nothing, so the text is read, not cut on every `;`. Each statement keeps its `;` and any
 * comment before it; text after the last `;` (a comment, a statement without one) is a
 * statement too, so nothing of the file is lost.
 */
export function migrationStatements(text: string): string[] {
  return text.split(STATEMENT_BREAKPOINT).flatMap(splitSql);
}

/** The statements joined back in the file's shape (drizzle-kit's own delimiters). */
export function joinStatements(statements: readonly string[], breakpoints: boolean): string {
  if (statements.length === 0) return '';
  return `${statements.join(breakpoints ? `${STATEMENT_BREAKPOINT}\n` : '\n')}\n`;
}

const IDENT_CHAR = /[A-Za-z0-9_$]/;

function splitSql(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const statement = text.slice(start, end).trim();
    if (statement.length > 0) statements.push(statement);
    start = end;
  };
  while (i < text.length) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
    } else if (c === '/' && next === '*') {
      i = blockCommentEnd(text, i);
    } else if (c === "'") {
      // E'...' takes backslash escapes; a standard string only doubles its quote.
      const escapes = /[Ee]/.test(text[i - 1] ?? '') && !IDENT_CHAR.test(text[i - 2] ?? '');
      i = quotedEnd(text, i, "'", escapes);
    } else if (c === '"') {
      i = quotedEnd(text, i, '"', false);
    } else if (c === '$' && !IDENT_CHAR.test(text[i - 1] ?? '')) {
      const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i))?.[0];
      if (tag) {
        const end = text.indexOf(tag, i + tag.length);
        i = end === -1 ? text.length : end + tag.length;
      } else {
        i += 1;
      }
    } else if (c === ';') {
      i += 1;
      push(i);
    } else {
      i += 1;
    }
  }
  push(text.length);
  return statements;
}

/** The index after a quoted string or name opened at `i` (its quote doubled inside). */
function quotedEnd(text: string, i: number, quote: string, escapes: boolean): number {
  let j = i + 1;
  while (j < text.length) {
    if (escapes && text[j] === '\\') j += 2;
    else if (text[j] === quote && text[j + 1] === quote) j += 2;
    else if (text[j] === quote) return j + 1;
    else j += 1;
  }
  return text.length;
}

/** The index after a block comment opened at `i` (they nest in PostgreSQL). */
function blockCommentEnd(text: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < text.length) {
    if (text[j] === '/' && text[j + 1] === '*') {
      depth += 1;
      j += 2;
    } else if (text[j] === '*' && text[j + 1] === '/') {
      depth -= 1;
      j += 2;
      if (depth === 0) return j;
    } else {
      j += 1;
    }
  }
  return text.length;
}
