import { skipQuoted } from '../sql/lexer.js';
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
    const skipped = skipQuoted(text, i);
    if (skipped !== null) {
      i = skipped;
    } else if (text[i] === ';') {
      i += 1;
      push(i);
    } else {
      i += 1;
    }
  }
  push(text.length);
  return statements;
}
