import { PgpartsError } from '../errors.js';
import { quoteQualified } from './identifiers.js';
import { dollarQuoted, textLiteral } from './literals.js';

/**
 * Which tables pgparts made, recorded where a user's DDL cannot erase it: a table of pgparts's
 * own in the family's schema, keyed by the table's oid, with the name it had when pgparts made
 * it (a table renamed since, or a new table that got a reused oid, no longer matches). The row
 * is written in the transaction that creates the table and deleted in the one that drops it. The
 * `pgparts:managed` comment is still written, as a hint for people; it proves nothing.
 *
 * The key is a `regclass`: in the database it is the oid, compared as one; a dump (pg_dump, a
 * logical copy) writes it as the table's name, and the restore reads that name back as the oid
 * the restored table got. An `oid` column kept the source database's numbers, so after a restore
 * no record matched and retention silently stopped. pg_upgrade keeps table oids, and accepts
 * regclass columns.
 *
 * Existing installs are carried over once per family (see ops/ownership.ts): a partition is
 * adopted when it carries the marker comment and its name is the one pgparts derives for its
 * bound; drain tables when they carry their drain marker. After that, comments are ignored.
 */
export const OWNED_TABLES = 'pgparts_owned_tables';
/** Families whose existing partitions were carried over (the rule above runs once each). */
export const OWNERSHIP_ADOPTED = 'pgparts_ownership_adopted';

/**
 * What an owned table is: an attached partition (DEFAULT included), or one of a drain's tables
 * (staging: the key's partition being built; next-default: a swap's new DEFAULT; drained-default:
 * the old DEFAULT a swap detached, dropped after its commit).
 */
export type OwnedRole = 'partition' | 'staging' | 'next-default' | 'drained-default';

export function ownershipSetupSql(schema: string): string[] {
  const owned = quoteQualified(schema, OWNED_TABLES);
  return [
    `CREATE TABLE IF NOT EXISTS ${owned} (
  "relid" regclass PRIMARY KEY,
  "schema" text NOT NULL,
  "name" text NOT NULL,
  "family" text NOT NULL,
  "parent" text NOT NULL,
  "key" text NOT NULL,
  "role" text NOT NULL,
  "how" text NOT NULL DEFAULT 'created',
  "recorded_at" timestamptz NOT NULL DEFAULT now()
)`,
    `CREATE TABLE IF NOT EXISTS ${quoteQualified(schema, OWNERSHIP_ADOPTED)} (
  "family" text PRIMARY KEY,
  "adopted_at" timestamptz NOT NULL DEFAULT now(),
  "tables" integer NOT NULL
)`,
    // Made by a release that keyed it by oid: the same values, as regclass (no rewrite; the
    // strong lock is taken only when the column still is an oid, once).
    `DO ${dollarQuoted(` BEGIN
  IF (SELECT atttypid FROM pg_attribute WHERE attrelid = ${textLiteral(owned)}::regclass
      AND attname = 'relid' AND NOT attisdropped) = 'oid'::regtype THEN
    ALTER TABLE ${owned} ALTER COLUMN "relid" TYPE regclass;
  END IF;
END `)}`,
  ];
}

export interface OwnedTable {
  /** The family's schema: where the ownership table is. */
  schema: string;
  family: string;
  parent: string;
  /** The table's name (in `schema`, or in `tableSchema` when given). */
  name: string;
  tableSchema?: string;
  key: string;
  role: OwnedRole;
}

/** Records (or re-records) a table pgparts just made; run in the transaction that made it. */
export function recordOwnedSql(t: OwnedTable, how: 'created' | 'adopted' = 'created'): string {
  return recordOwnedRowSql(t.schema, ownedRowLiterals(t, how));
}

/** recordOwnedSql for several tables (distinct ones) in one statement. */
export function recordOwnedRowsSql(
  tables: readonly OwnedTable[],
  how: 'created' | 'adopted' = 'created',
): string {
  const first = tables[0];
  if (!first) throw new PgpartsError('internal', 'pgparts: recordOwnedRowsSql needs a table');
  return insertOwnedSql(
    first.schema,
    tables.map((t) => ownedRowLiterals(t, how)),
  );
}

function ownedRowLiterals(t: OwnedTable, how: 'created' | 'adopted'): OwnedRowExpressions {
  const where = t.tableSchema ?? t.schema;
  return {
    relid: `${textLiteral(quoteQualified(where, t.name))}::regclass`,
    schema: textLiteral(where),
    name: textLiteral(t.name),
    family: textLiteral(t.family),
    parent: textLiteral(t.parent),
    key: textLiteral(t.key),
    role: textLiteral(t.role),
    how: textLiteral(how),
  };
}

/** The ownership row's columns, each as an SQL expression (a literal, or a PL/pgSQL variable). */
export interface OwnedRowExpressions {
  relid: string;
  schema: string;
  name: string;
  family: string;
  parent: string;
  key: string;
  role: string;
  how: string;
}

/**
 * The one INSERT that records ownership, from expressions: literals when the table's name is
 * known when the statement is built, PL/pgSQL variables when a migration's DO block computes it.
 */
export function recordOwnedRowSql(schema: string, row: OwnedRowExpressions): string {
  return insertOwnedSql(schema, [row]);
}

function insertOwnedSql(schema: string, rows: readonly OwnedRowExpressions[]): string {
  const values = rows.map(
    (row) =>
      `(${row.relid}, ${row.schema}, ${row.name}, ${row.family}, ${row.parent}, ${row.key}, ${row.role}, ${row.how})`,
  );
  return `INSERT INTO ${quoteQualified(schema, OWNED_TABLES)} ("relid", "schema", "name", "family", "parent", "key", "role", "how")
VALUES ${values.join(',\n       ')}
ON CONFLICT ("relid") DO UPDATE SET "schema" = EXCLUDED."schema", "name" = EXCLUDED."name", "family" = EXCLUDED."family", "parent" = EXCLUDED."parent", "key" = EXCLUDED."key", "role" = EXCLUDED."role", "how" = EXCLUDED."how", "recorded_at" = now()`;
}

/**
 * A drain's table becomes what it was built for (a staging table is now the key's partition), by
 * its current name: run after a RENAME, it records the new name.
 */
export function setOwnedRoleSql(
  schema: string,
  tableSchema: string,
  name: string,
  role: OwnedRole,
): string {
  return `UPDATE ${quoteQualified(schema, OWNED_TABLES)} SET "role" = ${textLiteral(role)}, "name" = ${textLiteral(name)}, "recorded_at" = now()
WHERE "relid" = ${textLiteral(quoteQualified(tableSchema, name))}::regclass`;
}

/** After `ALTER TABLE ... SET SCHEMA`: the owned table now lives in `toSchema`. */
export function moveOwnedSql(schema: string, toSchema: string, name: string): string {
  return `UPDATE ${quoteQualified(schema, OWNED_TABLES)} SET "schema" = ${textLiteral(toSchema)}, "recorded_at" = now()
WHERE "relid" = ${textLiteral(quoteQualified(toSchema, name))}::regclass`;
}

/** Before pgparts drops a table of its own: its row goes in the same transaction. */
export function forgetOwnedSql(schema: string, tableSchema: string, name: string): string {
  return `DELETE FROM ${quoteQualified(schema, OWNED_TABLES)}
WHERE "relid" = ${textLiteral(quoteQualified(tableSchema, name))}::regclass`;
}
