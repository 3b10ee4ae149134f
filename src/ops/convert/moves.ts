import { sql } from 'drizzle-orm';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { textLiteral } from '../../sql/literals.js';
import type { DependentView, ExternalForeignKey } from './legacy-catalog.js';
import { readTable } from './legacy-catalog.js';
import { query } from './run-sql.js';

/**
 * The catalog-only statements the swap and the unswap are made of. Moving a table with
 * ALTER ... SET SCHEMA carries its indexes, constraints, triggers and owned sequences, so the two
 * sides never fight over index names; views stay bound to the tables they were created on.
 */

export const moveTableSql = (from: string, name: string, to: string) =>
  `ALTER TABLE ${quoteQualified(from, name)} SET SCHEMA ${quoteIdent(to)}`;

export const moveViewSql = (
  from: string,
  view: { name: string; materialized: boolean },
  to: string,
) =>
  `ALTER ${view.materialized ? 'MATERIALIZED VIEW' : 'VIEW'} ${quoteQualified(from, view.name)} SET SCHEMA ${quoteIdent(to)}`;

export const dropViewSql = (schema: string, view: { name: string; materialized: boolean }) =>
  `DROP ${view.materialized ? 'MATERIALIZED VIEW' : 'VIEW'} ${quoteQualified(schema, view.name)}`;

/** CREATE statements that rebuild a captured view in `schema` (first on the search_path). */
export function recreateViewSql(view: DependentView, schema: string): string[] {
  const create = view.materialized
    ? `CREATE MATERIALIZED VIEW ${quoteIdent(view.name)} AS\n${view.definition}\nWITH DATA`
    : `CREATE VIEW ${quoteIdent(view.name)} AS\n${view.definition}`;
  const indexes = view.indexes.map((def) => {
    const head = ` ON ${view.printedName} USING `;
    if (!def.includes(head)) {
      throw new PgpartsError(
        'internal',
        `pgparts: cannot re-target the index of ${view.name}: ${def}`,
      );
    }
    return def.replace(head, ` ON ${quoteQualified(schema, view.name)} USING `);
  });
  return [create, ...indexes];
}

/** A serial column's sequence, by schema and name. */
export interface OwnedSequence {
  table: string;
  column: string;
  schema: string;
  name: string;
}

export async function ownedSequences(
  db: AnyPgDatabase,
  schema: string,
  tables: readonly string[],
): Promise<OwnedSequence[]> {
  const out: OwnedSequence[] = [];
  for (const table of tables) {
    const t = await readTable(db, schema, table);
    for (const s of t?.sequences ?? []) {
      const rows = await query<{ schema: string; name: string }>(
        db,
        sql`SELECT n.nspname AS schema, c.relname AS name FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ${s.sequence}::regclass`,
      );
      const found = rows[0];
      if (found) out.push({ table, column: s.column, ...found });
    }
  }
  return out;
}

/**
 * Moves the sequence past every id in `source` (docs/postgres-behaviours.md#sequences-after-copy) and detaches it, so it stays put while
 * the tables move; `ownSequenceSql` then hands it to the table now in service.
 */
export function releaseSequenceSql(seq: OwnedSequence, source: string): string[] {
  const qualified = quoteQualified(seq.schema, seq.name);
  return [
    `SELECT setval(${textLiteral(qualified)}::regclass, greatest((SELECT max(${quoteIdent(seq.column)}) FROM ${quoteQualified(source, seq.table)}), (SELECT last_value FROM ${qualified})))`,
    `ALTER SEQUENCE ${qualified} OWNED BY NONE`,
  ];
}

export const ownSequenceSql = (seq: OwnedSequence, schema: string) =>
  `ALTER SEQUENCE ${quoteQualified(seq.schema, seq.name)} OWNED BY ${quoteQualified(schema, seq.table)}.${quoteIdent(seq.column)}`;

/**
 * Re-points a foreign key from another table to whatever table now has the name (docs/postgres-behaviours.md#views-bind-to-tables: it
 * stayed on the moved table's OID). NOT VALID keeps the swap short; VALIDATE runs after it.
 */
export function repointSql(fk: ExternalForeignKey): string[] {
  return [
    `ALTER TABLE ${fk.table} DROP CONSTRAINT ${quoteIdent(fk.name)}`,
    `ALTER TABLE ${fk.table} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition} NOT VALID`,
  ];
}

export const validateSql = (fk: ExternalForeignKey) =>
  `ALTER TABLE ${fk.table} VALIDATE CONSTRAINT ${quoteIdent(fk.name)}`;

export const refreshSql = (schema: string, view: DependentView) =>
  `REFRESH MATERIALIZED VIEW ${view.refreshConcurrently ? 'CONCURRENTLY ' : ''}${quoteQualified(schema, view.name)}`;

/**
 * The swap's lock: ordinary views first, then the tables, in the order a query through a view
 * takes them (view, then its tables), so a reader of a view cannot deadlock with the swap.
 * Materialized views are not locked here: their readers never touch the tables.
 */
export function lockSql(
  schema: string,
  tables: readonly string[],
  views: readonly { name: string; materialized: boolean }[],
): string {
  const names = [
    ...views.filter((v) => !v.materialized).map((v) => quoteQualified(schema, v.name)),
    ...tables.map((t) => quoteQualified(schema, t)),
  ];
  return `LOCK TABLE ${names.join(', ')} IN ACCESS EXCLUSIVE MODE`;
}
