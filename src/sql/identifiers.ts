import { z } from 'zod';

/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_LENGTH = 63;

/**
 * The identifiers pgparts accepts: lower-case, unquoted-style names. Anything else (quotes,
 * semicolons, spaces, upper case) is refused before any SQL is built, so a spec can never smuggle
 * SQL into DDL, and names read the same quoted or not.
 */
export const identifierSchema = z
  .string()
  .min(1, 'an identifier cannot be empty')
  .max(MAX_IDENTIFIER_LENGTH, `an identifier is at most ${MAX_IDENTIFIER_LENGTH} characters`)
  .regex(
    /^[a-z_][a-z0-9_]*$/,
    'an identifier must be lower-case letters, digits and underscores, not starting with a digit',
  );

/** The one function that turns a name into SQL. Every identifier in generated SQL goes through it. */
export function quoteIdent(name: string): string {
  const checked = identifierSchema.safeParse(name);
  if (!checked.success) {
    throw new Error(
      `pgparts: refusing identifier ${JSON.stringify(name)}: ${checked.error.issues[0]?.message}`,
    );
  }
  return `"${name}"`;
}

/** schema.name, each part quoted. */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}
