import { z } from 'zod';
import { PgpartsError } from '../errors.js';
import { identifierSchema } from '../sql/identifiers.js';

/**
 * An index to build online on a partitioned table: what `buildIndexOnline` takes and what a
 * `-- pgparts:create-index-online <json>` migration line holds. Names are identifiers (quoted by
 * quoteIdent when the SQL is built); `expression` and `where` are SQL the app's developer wrote,
 * placed in the statement as written, so they may not end a statement or open a comment.
 */

/** SQL fragments written by the developer: one expression, never a second statement. */
const sqlFragmentSchema = z
  .string()
  .trim()
  .min(1, 'an SQL fragment cannot be empty')
  .max(2000)
  .refine((text) => !/;|--|\/\*/.test(text), {
    message: 'an expression or WHERE clause may not contain ";", "--" or "/*"',
  });

const orderSchema = z.enum(['asc', 'desc']);
const nullsSchema = z.enum(['first', 'last']);

/** An operator class (`jsonb_path_ops`, `gin_trgm_ops`), quoted as an identifier. */
const opclassSchema = identifierSchema;

const namedColumnSchema = z
  .object({
    column: identifierSchema,
    order: orderSchema.optional(),
    nulls: nullsSchema.optional(),
    opclass: opclassSchema.optional(),
  })
  .strict();

const expressionColumnSchema = z
  .object({
    expression: sqlFragmentSchema,
    order: orderSchema.optional(),
    nulls: nullsSchema.optional(),
    opclass: opclassSchema.optional(),
  })
  .strict();

/** A column, an expression, or a column's name alone (`"kind"` for `{ "column": "kind" }`). */
const indexColumnSchema = z.union([
  identifierSchema.transform((column) => ({ column })).pipe(namedColumnSchema),
  namedColumnSchema,
  expressionColumnSchema,
]);

const tableObjectSchema = z
  .object({ schema: identifierSchema.default('public'), name: identifierSchema })
  .strict();

/** `{ schema, name }`, or `"name"` / `"schema.name"`. */
export const indexTableSchema = z.union([
  z
    .string()
    // Any identifier may hold a dot; as text, only "name" or "schema.name" is unambiguous.
    .refine((text) => text.split('.').length <= 2, {
      message:
        'a table as text is "name" or "schema.name"; give { schema, name } for names with dots',
    })
    .transform((text) => {
      const parts = text.split('.');
      return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: text };
    })
    .pipe(tableObjectSchema),
  tableObjectSchema,
]);

export const onlineIndexSpecSchema = z
  .object({
    table: indexTableSchema,
    /** The index on the partitioned parent; each partition's index gets a name derived from it. */
    name: identifierSchema,
    columns: z.array(indexColumnSchema).min(1, 'an index needs at least one column').max(32),
    unique: z.boolean().default(false),
    /** Columns stored in the index but not part of its key (INCLUDE). */
    include: z.array(identifierSchema).max(32).default([]),
    /** A partial index's predicate. */
    where: sqlFragmentSchema.optional(),
    /** The access method (USING); btree when not given. */
    using: identifierSchema.optional(),
  })
  .strict()
  .superRefine((spec, context) => {
    if (spec.unique && spec.using !== undefined && spec.using !== 'btree') {
      context.addIssue({
        code: 'custom',
        path: ['using'],
        message: `PostgreSQL builds UNIQUE indexes with btree only, not ${spec.using}`,
      });
    }
  });

export type OnlineIndexSpecInput = z.input<typeof onlineIndexSpecSchema>;
export type OnlineIndexSpec = z.output<typeof onlineIndexSpecSchema>;
export type IndexColumn = OnlineIndexSpec['columns'][number];

const DOCS = 'docs/online-indexes.md';

/**
 * The spec, validated and with its defaults (from a typed spec, or JSON read from a migration);
 * a PgpartsError (invalid-config) otherwise.
 */
export function parseOnlineIndexSpec(input: unknown): OnlineIndexSpec {
  const parsed = onlineIndexSpecSchema.safeParse(input);
  if (!parsed.success) {
    throw new PgpartsError(
      'invalid-config',
      `online index spec: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ')}`,
      { docs: DOCS },
    );
  }
  return parsed.data;
}

/** An index of a partitioned table renamed (its definition unchanged): `from` becomes `to`. */
export const indexRenameSchema = z
  .object({ table: indexTableSchema, from: identifierSchema, to: identifierSchema })
  .strict()
  .refine((r) => r.from !== r.to, { message: 'from and to are the same name', path: ['to'] });
export type IndexRenameInput = z.input<typeof indexRenameSchema>;
export type IndexRename = z.output<typeof indexRenameSchema>;

/** An index of a partitioned table dropped once the migration's new indexes are built. */
export const indexDropSchema = z
  .object({ table: indexTableSchema, name: identifierSchema })
  .strict();
export type IndexDropInput = z.input<typeof indexDropSchema>;
export type IndexDrop = z.output<typeof indexDropSchema>;
