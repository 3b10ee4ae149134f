import { z } from 'zod';

/** PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_LENGTH = 63;

/**
 * The identifiers pgparts accepts: any name PostgreSQL keeps as written, including the camelCase
 * and mixed-case names Drizzle apps use ("occurredAt", "Events"). Every one reaches SQL quoted
 * (quoteIdent), so a name can never be read as SQL; only what PostgreSQL itself cannot store is
 * refused: empty names, NUL, and names longer than it keeps (it would silently cut them).
 */
export const identifierSchema = z
  .string()
  .min(1, 'an identifier cannot be empty')
  .refine((s) => Buffer.byteLength(s, 'utf8') <= MAX_IDENTIFIER_LENGTH, {
    message: `an identifier is at most ${MAX_IDENTIFIER_LENGTH} bytes`,
  })
  .refine((s) => !s.includes('\0'), { message: 'an identifier cannot contain NUL' });

/** The one function that turns a name into SQL. Every identifier in generated SQL goes through it. */
export function quoteIdent(name: string): string {
  const checked = identifierSchema.safeParse(name);
  if (!checked.success) {
    throw new Error(
      `pgparts: refusing identifier ${JSON.stringify(name)}: ${checked.error.issues[0]?.message}`,
    );
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/** schema.name, each part quoted. */
export function quoteQualified(schema: string, name: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(name)}`;
}
