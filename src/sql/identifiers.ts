import { z } from 'zod';
import { PgpartsError } from '../errors.js';

/**
 * PostgreSQL keeps at most this many bytes of an identifier (NAMEDATALEN - 1) and silently
 * truncates longer ones, so two long names could end up naming the same table: refused instead.
 */
export const MAX_IDENTIFIER_LENGTH = 63;

const utf8 = new TextEncoder();

/** Why `name` cannot be a PostgreSQL identifier, or null when it can be one (quoted as needed). */
export function identifierProblem(name: string): string | null {
  if (name.length === 0) return 'an identifier cannot be empty';
  if (name.includes('\0')) return 'an identifier cannot contain a NUL character';
  // A lone UTF-16 surrogate has no UTF-8 form: the server would receive a replacement character.
  if (/\p{Cs}/u.test(name)) return 'an identifier must be valid Unicode';
  // A UTF-16 code unit is at most 3 bytes of UTF-8: a name of 21 units or fewer always fits.
  if (name.length * 3 <= MAX_IDENTIFIER_LENGTH) return null;
  const bytes = utf8.encode(name).length;
  if (bytes > MAX_IDENTIFIER_LENGTH) {
    return `an identifier is at most ${MAX_IDENTIFIER_LENGTH} bytes (this one has ${bytes}; PostgreSQL would truncate it)`;
  }
  return null;
}

/**
 * Any name PostgreSQL can hold: upper case, spaces, quotes and any Unicode are fine, since every
 * name reaches SQL through quoteIdent. Refused: empty names, NUL, and names over 63 bytes.
 */
export const identifierSchema = z.string().superRefine((name, ctx) => {
  const problem = identifierProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * The one function that turns a name into SQL: always double-quoted, embedded double quotes
 * doubled, so the name is read exactly as written (case kept) and can never end the identifier.
 * It is safe on names read back from the catalog as well as on names from a spec.
 */
export function quoteIdent(name: string): string {
  const problem = identifierProblem(name);
  if (problem) {
    throw new PgpartsError(
      'invalid-input',
      `refusing identifier ${JSON.stringify(name)}: ${problem}`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/** schema.name, each part quoted. */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}

/**
 * A name pgparts derives from another one (`<constraint>_archived`), cut to 63 bytes at a
 * character boundary, the way PostgreSQL would cut it but without splitting a character.
 */
export function truncateIdentifier(name: string): string {
  let bytes = 0;
  let end = 0;
  for (const ch of name) {
    const size = utf8.encode(ch).length;
    if (bytes + size > MAX_IDENTIFIER_LENGTH) break;
    bytes += size;
    end += ch.length;
  }
  return name.slice(0, end);
}
