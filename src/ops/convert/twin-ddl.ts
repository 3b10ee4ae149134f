import { is, SQL } from 'drizzle-orm';
import {
  type ForeignKey,
  getTableConfig,
  type IndexedColumn,
  PgDialect,
  type PgTable,
} from 'drizzle-orm/pg-core';
import type { FamilySpec } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { partitionByClause } from '../../sql/partition-ddl.js';
import type { CatalogTable } from './legacy-catalog.js';

/**
 * The twin of one table: its Drizzle definition rendered as DDL on a partitioned parent.
 *
 * Why rendered from Drizzle and not `CREATE TABLE ... (LIKE legacy)`: the target shape is the
 * Drizzle table (the legacy members table has no season_id, its keys are the broken ones of
 * docs/postgres-behaviours.md#unique-keys-include-the-partition-key, docs/postgres-behaviours.md#foreign-keys-reference-the-partition-key), and keys, foreign keys and indexes must be the declared ones. Column *defaults* are
 * the exception: they are copied from the legacy column as the server prints them
 * (pg_get_expr), so a serial column keeps drawing from the legacy sequence, which the swap then
 * moves past max(id) and hands to the new column (docs/postgres-behaviours.md#sequences-after-copy), and no value is ever rendered here.
 */

const dialect = new PgDialect();
const SERIAL_TYPES: Record<string, string> = {
  smallserial: 'smallint',
  serial: 'integer',
  bigserial: 'bigint',
};

/** A table whose legacy version lacks the partition column: backfill derives it from its parent. */
export interface Derivation {
  table: string;
  column: string;
  parent: string;
  parentColumn: string;
  /** [column here, column in parent] pairs that identify the parent row */
  join: [string, string][];
}

function inlineSql(what: string, table: string, value: SQL): string {
  const rendered = dialect.sqlToQuery(value, 'indexes');
  if (rendered.params.length > 0) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: ${table}: the ${what} has bound parameters; write it with sql.raw or literals`,
    );
  }
  return rendered.sql;
}

/** Which Drizzle columns the legacy table lacks, and how the partition column is derived. */
export function compareColumns(
  family: FamilySpec,
  table: PgTable,
  legacy: CatalogTable,
): { missing: string[]; derivation: Derivation | null } {
  const config = getTableConfig(table);
  const declared = new Set(config.columns.map((c) => c.name));
  const where = `${legacy.schema}.${legacy.name}`;
  for (const column of legacy.columns) {
    if (!declared.has(column.name)) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${where} has column ${column.name}, which the Drizzle table ${config.name} does ` +
          'not declare; the copy would lose it. Declare it in the Drizzle table or drop it first',
      );
    }
    if (column.identity || column.generated) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${where}.${column.name} is an identity or generated column, which conversion ` +
          'does not handle yet; turn it into a plain column with a default first',
      );
    }
  }
  // The twin takes the legacy column's default (see above) and renders no identity: a declared
  // one would be missing after the swap, and every insert that leaves the column out refused.
  const identities = config.columns.filter((c) => c.generatedIdentity !== undefined);
  if (identities.length > 0) {
    throw new PgpartsError(
      'spec-mismatch',
      `pgparts: the Drizzle table ${config.name} declares ${identities.map((c) => c.name).join(', ')} ` +
        'as an identity column, which conversion does not make (the converted table would have ' +
        'none, and every insert that leaves it out would fail); nothing was changed: declare it ' +
        'as the legacy table has it (a plain column with its default, such as serial) to convert',
    );
  }
  const have = new Set(legacy.columns.map((c) => c.name));
  const missing = config.columns.filter((c) => !have.has(c.name));
  let derivation: Derivation | null = null;
  for (const column of missing) {
    if (column.name === family.partitionBy.column) {
      derivation = deriveFrom(family, table, column.name);
      continue;
    }
    if (column.notNull && !column.hasDefault) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${where} lacks column ${column.name}, which is NOT NULL without a default in ` +
          `the Drizzle table ${config.name}; add it to the legacy table (or give it a default) first`,
      );
    }
    if (column.hasDefault && !is(column.default, SQL)) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${where} lacks column ${column.name}; add it to the legacy table with its ` +
          'default first (pgparts copies defaults from the legacy table and renders no values)',
      );
    }
  }
  return { missing: missing.map((c) => c.name), derivation };
}

/**
 * A table without the partition column gets it from the family table it references: the Drizzle
 * foreign key that carries the partition column (run_group_member (season_id, run_guid) ->
 * leaderboard_run) says which parent and which other columns identify the parent row.
 */
function deriveFrom(family: FamilySpec, table: PgTable, column: string): Derivation {
  const config = getTableConfig(table);
  for (const fk of config.foreignKeys) {
    const ref = fk.reference();
    const parent = getTableConfig(ref.foreignTable).name;
    if (!family.tables.includes(parent)) continue;
    const pairs = ref.columns.map(
      (c, i) => [c.name, ref.foreignColumns[i]?.name ?? ''] as [string, string],
    );
    const key = pairs.find(([here]) => here === column);
    const join = pairs.filter(([here]) => here !== column);
    if (key && join.length > 0) {
      return { table: config.name, column, parent, parentColumn: key[1], join };
    }
  }
  throw new PgpartsError(
    'spec-mismatch',
    `pgparts: the legacy ${config.name} has no ${column} and no declared foreign key to another ` +
      `table of family ${family.name} says where to take it from; add ${column} to the legacy table first`,
  );
}

function columnSql(table: PgTable, legacy: CatalogTable): string[] {
  const config = getTableConfig(table);
  const legacyColumns = new Map(legacy.columns.map((c) => [c.name, c]));
  return config.columns.map((column) => {
    const declaredType = column.getSQLType();
    const serial = SERIAL_TYPES[declaredType];
    const type = serial ?? declaredType;
    const old = legacyColumns.get(column.name);
    let defaultSql = old?.default ?? null;
    if (!old && column.hasDefault && is(column.default, SQL)) {
      defaultSql = inlineSql(`default of ${column.name}`, config.name, column.default);
    }
    if (serial && !defaultSql) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${config.name}.${column.name} is ${declaredType} in Drizzle but the legacy ` +
          'column has no sequence default; give the legacy column one first',
      );
    }
    const notNull = column.notNull || column.primary;
    return `  ${quoteIdent(column.name)} ${type}${defaultSql ? ` DEFAULT ${defaultSql}` : ''}${notNull ? ' NOT NULL' : ''}`;
  });
}

const columnList = (columns: readonly { name: string }[]) =>
  columns.map((c) => quoteIdent(c.name)).join(', ');

/** CREATE TABLE for the partitioned twin, with its keys and foreign keys. */
export function twinTableSql(
  family: FamilySpec,
  table: PgTable,
  legacy: CatalogTable,
  schema: string,
): string {
  const config = getTableConfig(table);
  const lines = columnSql(table, legacy);
  const pkColumns = config.columns.filter((c) => c.primary);
  if (pkColumns.length > 0) {
    lines.push(
      `  CONSTRAINT ${quoteIdent(`${config.name}_pkey`)} PRIMARY KEY (${columnList(pkColumns)})`,
    );
  }
  for (const pk of config.primaryKeys) {
    lines.push(`  CONSTRAINT ${quoteIdent(pk.getName())} PRIMARY KEY (${columnList(pk.columns)})`);
  }
  for (const column of config.columns.filter((c) => c.isUnique)) {
    const name = column.uniqueName ?? `${config.name}_${column.name}_unique`;
    lines.push(`  CONSTRAINT ${quoteIdent(name)} UNIQUE (${quoteIdent(column.name)})`);
  }
  for (const unique of config.uniqueConstraints) {
    const name = unique.getName();
    if (!name)
      throw new PgpartsError(
        'invalid-config',
        `pgparts: ${config.name}: name every unique constraint`,
      );
    const nulls = unique.nullsNotDistinct ? ' NULLS NOT DISTINCT' : '';
    lines.push(`  CONSTRAINT ${quoteIdent(name)} UNIQUE${nulls} (${columnList(unique.columns)})`);
  }
  for (const check of config.checks) {
    lines.push(
      `  CONSTRAINT ${quoteIdent(check.name)} CHECK (${inlineSql(`check ${check.name}`, config.name, check.value)})`,
    );
  }
  for (const fk of config.foreignKeys) {
    // Keys between the twins are added after the copy (twinForeignKeySql): checked row by row
    // they would cost more than the copy itself.
    if (family.tables.includes(getTableConfig(fk.reference().foreignTable).name)) continue;
    lines.push(`  ${foreignKeyClause(family, fk, schema)}`);
  }
  // In the legacy table's tablespace: a partitioned table's is where its partitions go (those
  // prep makes with PARTITION OF, and pgparts's later ones), so the rows stay on the disk the
  // app chose for them.
  const tablespace = legacy.tablespace ? ` TABLESPACE ${quoteIdent(legacy.tablespace)}` : '';
  return `CREATE TABLE ${quoteQualified(schema, config.name)} (\n${lines.join(',\n')}\n) ${partitionByClause(family)}${tablespace}`;
}

function foreignKeyClause(family: FamilySpec, fk: ForeignKey, schema: string): string {
  const ref = fk.reference();
  const foreign = getTableConfig(ref.foreignTable);
  // Foreign keys inside the family point at the other twins; the rest at the real tables.
  const target = family.tables.includes(foreign.name)
    ? quoteQualified(schema, foreign.name)
    : quoteQualified(foreign.schema ?? family.schema, foreign.name);
  const actions =
    (fk.onDelete ? ` ON DELETE ${fk.onDelete.toUpperCase()}` : '') +
    (fk.onUpdate ? ` ON UPDATE ${fk.onUpdate.toUpperCase()}` : '');
  return (
    `CONSTRAINT ${quoteIdent(fk.getName())} FOREIGN KEY (${columnList(ref.columns)}) ` +
    `REFERENCES ${target} (${columnList(ref.foreignColumns)})${actions}`
  );
}

/**
 * The declared foreign keys between twins, added once the copy is done: validating them is one
 * join, where checking each copied row costs a query per row. (A partitioned table cannot take
 * them NOT VALID, docs/postgres-behaviours.md#not-valid-foreign-keys; the twins are not in service, so the validation blocks nobody.)
 */
export function twinForeignKeySql(
  family: FamilySpec,
  table: PgTable,
  schema: string,
): { name: string; sql: string }[] {
  const config = getTableConfig(table);
  return config.foreignKeys
    .filter((fk) => family.tables.includes(getTableConfig(fk.reference().foreignTable).name))
    .map((fk) => ({
      name: fk.getName(),
      sql: `ALTER TABLE ${quoteQualified(schema, config.name)} ADD ${foreignKeyClause(family, fk, schema)}`,
    }));
}

/** The declared indexes, created on the twin parent so every partition gets them (docs/postgres-behaviours.md#parent-indexes-and-sort-order). */
export function twinIndexSql(table: PgTable, schema: string): string[] {
  const config = getTableConfig(table);
  return config.indexes.map((index) => {
    const c = index.config;
    if (!c.name)
      throw new PgpartsError('invalid-config', `pgparts: ${config.name}: name every index`);
    const method = c.method && c.method !== 'btree' ? c.method : 'btree';
    // Only btree orders its entries: other methods refuse ASC/DESC and NULLS FIRST/LAST.
    const ordered = method === 'btree';
    const columns = c.columns.map((column) => {
      if (is(column, SQL)) return `(${inlineSql(`index ${c.name}`, config.name, column)})`;
      const indexed = column as IndexedColumn;
      const opts = indexed.indexConfig ?? {};
      return [
        quoteIdent(indexed.name ?? ''),
        opts.opClass ? ` ${quoteIdent(opts.opClass)}` : '',
        ordered && opts.order === 'desc' ? ' DESC' : '',
        ordered && opts.nulls ? ` NULLS ${opts.nulls === 'first' ? 'FIRST' : 'LAST'}` : '',
      ].join('');
    });
    const where = c.where ? ` WHERE ${inlineSql(`index ${c.name}`, config.name, c.where)}` : '';
    return (
      `CREATE ${c.unique ? 'UNIQUE ' : ''}INDEX ${quoteIdent(c.name)} ON ${quoteQualified(schema, config.name)} ` +
      `USING ${quoteIdent(method)} (${columns.join(', ')})${where}`
    );
  });
}
