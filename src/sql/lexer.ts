/**
 * Reading SQL text as PostgreSQL reads it, as far as pgparts needs to: where a quoted string, a
 * quoted name, a comment or a dollar-quoted body starts and ends, so that what is inside one (a
 * `;`, a `$1`) is never taken for SQL. Migration files are cut into statements with it, and
 * parameters found in pgparts's own statements.
 */

/** A character that continues a name: `a$1` is one identifier, and `x$tag$` no dollar quote. */
const IDENT_CHAR = /[A-Za-z0-9_$]/;

/**
 * The index just past the string, quoted name, comment or dollar-quoted body that starts at
 * `i`, or null when none starts there. An unterminated one runs to the end of the text.
 */
export function skipQuoted(text: string, i: number): number | null {
  const c = text[i];
  const next = text[i + 1];
  if (c === '-' && next === '-') {
    const end = text.indexOf('\n', i);
    return end === -1 ? text.length : end + 1;
  }
  if (c === '/' && next === '*') return blockCommentEnd(text, i);
  if (c === "'") {
    // E'...' takes backslash escapes; a standard string only doubles its quote.
    const escapes = /[Ee]/.test(text[i - 1] ?? '') && !IDENT_CHAR.test(text[i - 2] ?? '');
    return quotedEnd(text, i, "'", escapes);
  }
  if (c === '"') return quotedEnd(text, i, '"', false);
  if (c === '$' && !followsName(text, i)) {
    const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))?.[0];
    if (!tag) return null;
    const end = text.indexOf(tag, i + tag.length);
    return end === -1 ? text.length : end + tag.length;
  }
  return null;
}

/** Whether the character at `i` continues a name begun before it. */
export function followsName(text: string, i: number): boolean {
  return IDENT_CHAR.test(text[i - 1] ?? '');
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
