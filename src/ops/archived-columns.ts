import { type SQL, sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query } from '../run/execute.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';

/** One column as the catalog describes it, its type and default printed fully qualified. */
interface ColumnRow {
  name: string;
  type: string;
  not_null: boolean;
  default_expr: string | null;
  generated: string;
  identity: string;
}

/**
 * Rows of a catalog query run with only pg_catalog on the search_path, so that the types,
 * defaults and expressions it prints name every schema: the text is pasted into DDL that runs
 * under another search_path.
 */
function readUnderCatalogPath<T>(db: AnyPgDatabase, statement: SQL): Promise<T[]> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SET LOCAL search_path = pg_catalog`);
    return query<T>(tx as unknown as AnyPgDatabase, statement);
  });
}

/** Columns of `table`, their types and defaults printed fully qualified. */
async function readColumns(db: AnyPgDatabase, schema: string, table: string): Promise<ColumnRow[]> {
  return readUnderCatalogPath<ColumnRow>(
    db,
    sql`SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
               a.attgenerated::text AS generated, a.attidentity::text AS identity
          FROM pg_attribute a
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = to_regclass(${quoteQualified(schema, table)})
           AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum`,
  );
}

/**
 * What an archived partition needs before it can be attached again to a parent that changed
 * while it was away: the ADD COLUMN statements that give it the parent's new columns, as the
 * parent got them (type, default, NOT NULL, generated); SET NOT NULL for a column the parent
 * made NOT NULL; the CHECK constraints the parent gained (checkStatements). Refuses, naming the
 * table, the column and the way out, what ATTACH would refuse later: a column the parent no
 * longer has, a column of another type, a NOT NULL column with no value for some archived rows
 * (no default to give them, or NULLs already there), a CHECK some archived rows break.
 */
export async function archivedColumnStatements(
  db: AnyPgDatabase,
  parent: { schema: string; name: string },
  archived: { schema: string; name: string },
  archivedRows: number,
): Promise<string[]> {
  // One after the other: `db` may be a single pinned connection.
  const wanted = await readColumns(db, parent.schema, parent.name);
  const held = await readColumns(db, archived.schema, archived.name);
  const heldByName = new Map(held.map((c) => [c.name, c]));
  const wantedNames = new Set(wanted.map((c) => c.name));
  const table = `${archived.schema}.${archived.name}`;
  const archivedTable = quoteQualified(archived.schema, archived.name);
  const problems: string[] = [];
  // A parent column the archived table lacks, of the type of one it has that the parent lost:
  // most likely the same column renamed, whose values a RENAME keeps (a DROP would lose them).
  const missing = wanted.filter((c) => !heldByName.has(c.name));
  for (const extra of held.filter((c) => !wantedNames.has(c.name))) {
    const renamed = missing.filter((c) => c.type === extra.type).map((c) => quoteIdent(c.name));
    const way =
      renamed.length > 0
        ? `if the parent renamed it to ${renamed.join(' or ')}: ALTER TABLE ${archivedTable} RENAME COLUMN ${quoteIdent(extra.name)} TO ${renamed[0]} (its values stay); otherwise drop it from the archived table (its values are lost), or add it back to the parent`
        : 'drop it from the archived table (its values are lost), or add it back to the parent';
    problems.push(
      `column ${quoteIdent(extra.name)} is not on ${parent.schema}.${parent.name} any more (${way})`,
    );
  }
  const statements: string[] = [];
  for (const column of wanted) {
    const have = heldByName.get(column.name);
    if (have) {
      if (have.type !== column.type) {
        problems.push(
          `column ${quoteIdent(column.name)} is ${have.type} here and ${column.type} on the parent (ALTER COLUMN ... TYPE on the archived table first)`,
        );
      } else if (column.not_null && !have.not_null) {
        // Made NOT NULL on the parent since (drizzle-kit's SET NOT NULL for .notNull()): ATTACH
        // refuses a partition whose column is not, so it is set here, unless rows have no value.
        const nulls = await countWhere(db, archivedTable, `${quoteIdent(column.name)} IS NULL`);
        if (nulls > 0) {
          problems.push(
            `column ${quoteIdent(column.name)} is NOT NULL on the parent, and ${nulls} archived row(s) have no value for it (UPDATE ${archivedTable} SET ${quoteIdent(column.name)} = <value> WHERE ${quoteIdent(column.name)} IS NULL, then reattach)`,
          );
        } else {
          statements.push(
            `ALTER TABLE ${archivedTable} ALTER COLUMN ${quoteIdent(column.name)} SET NOT NULL`,
          );
        }
      }
      continue;
    }
    if (column.identity !== '') {
      problems.push(
        `column ${quoteIdent(column.name)} is an identity column on the parent; add it to the archived table by hand`,
      );
      continue;
    }
    const generated = column.generated === 's';
    if (column.not_null && column.default_expr === null && !generated && archivedRows > 0) {
      problems.push(
        `column ${quoteIdent(column.name)} is NOT NULL with no default on the parent, and the archived table holds ${archivedRows} row(s) with no value for it (ALTER TABLE ${archivedTable} ADD COLUMN ${quoteIdent(column.name)} ${column.type} DEFAULT <value> NOT NULL, then reattach)`,
      );
      continue;
    }
    const value =
      column.default_expr === null
        ? ''
        : generated
          ? ` GENERATED ALWAYS AS (${column.default_expr}) STORED`
          : ` DEFAULT ${column.default_expr}`;
    statements.push(
      `ALTER TABLE ${archivedTable} ADD COLUMN ${quoteIdent(column.name)} ${column.type}${value}${column.not_null ? ' NOT NULL' : ''}`,
    );
  }
  statements.push(...(await checkStatements(db, parent, archivedTable, problems)));
  if (problems.length > 0) {
    throw new PgpartsError(
      'invalid-input',
      `reattach: ${table} cannot be attached to ${parent.schema}.${parent.name}; nothing was changed:\n  - ${problems.join('\n  - ')}`,
      { step: 'reattach', table },
    );
  }
  return statements;
}

async function countWhere(db: AnyPgDatabase, table: string, condition: string): Promise<number> {
  const [row] = await query<{ n: number }>(
    db,
    sql`SELECT count(*)::int AS n FROM ${sql.raw(table)} WHERE ${sql.raw(condition)}`,
  );
  return row?.n ?? 0;
}

/**
 * The parent's CHECK constraints the archived table lacks (added on the parent since): ATTACH
 * refuses a partition missing one, so each is added, validated on the archived rows, unless some
 * row breaks it (a problem, naming how many). Read with only pg_catalog on the search_path, as
 * the columns are (readUnderCatalogPath).
 */
async function checkStatements(
  db: AnyPgDatabase,
  parent: { schema: string; name: string },
  archivedTable: string,
  problems: string[],
): Promise<string[]> {
  const read = (table: string) =>
    readUnderCatalogPath<{ name: string; expr: string; valid: boolean }>(
      db,
      sql`SELECT conname AS name, pg_get_expr(conbin, conrelid) AS expr, convalidated AS valid
            FROM pg_constraint WHERE conrelid = to_regclass(${table}) AND contype = 'c'
           ORDER BY conname`,
    );
  const wanted = await read(quoteQualified(parent.schema, parent.name));
  const held = new Set((await read(archivedTable)).map((c) => c.name));
  const statements: string[] = [];
  for (const check of wanted.filter((c) => !held.has(c.name))) {
    const breaking = check.valid ? await countWhere(db, archivedTable, `NOT (${check.expr})`) : 0;
    if (breaking > 0) {
      problems.push(
        `${breaking} archived row(s) break the parent's CHECK constraint ${quoteIdent(check.name)} (${check.expr}), added since the key was archived: change or delete them in ${archivedTable}, then reattach`,
      );
      continue;
    }
    statements.push(
      `ALTER TABLE ${archivedTable} ADD CONSTRAINT ${quoteIdent(check.name)} CHECK (${check.expr})${check.valid ? '' : ' NOT VALID'}`,
    );
  }
  return statements;
}
