import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent } from '../../sql/identifiers.js';
import { readTable } from './legacy-catalog.js';
import type { Sides } from './names.js';
import type { ConversionTarget } from './target.js';

/** How one table is copied: which columns, and the key each side is addressed by. */
export interface TableLayout {
  name: string;
  drizzle: PgTable;
  /** The legacy primary key: batches walk it, and the replay reads legacy rows by it. */
  legacyKey: string[];
  /** The declared primary key of the partitioned table (it carries the partition column). */
  partitionedKey: string[];
  /** Columns both sides have, in the Drizzle order: what is copied and checksummed. */
  columns: string[];
}

export function declaredKey(table: PgTable): string[] {
  const config = getTableConfig(table);
  const pk = config.primaryKeys[0];
  if (pk) return pk.columns.map((c) => c.name);
  const inline = config.columns.filter((c) => c.primary).map((c) => c.name);
  if (inline.length === 0) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: the Drizzle table ${config.name} declares no primary key`,
    );
  }
  return inline;
}

export async function readLayouts(
  db: AnyPgDatabase,
  target: ConversionTarget,
  sides: Sides,
): Promise<TableLayout[]> {
  const layouts: TableLayout[] = [];
  for (const table of target.tables) {
    const config = getTableConfig(table);
    const legacy = await readTable(db, sides.legacy, config.name);
    if (!legacy) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: the legacy table ${sides.legacy}.${config.name} is missing; was it dropped or renamed?`,
        { table: `${sides.legacy}.${config.name}` },
      );
    }
    if (legacy.primaryKey.length === 0) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: the legacy table ${sides.legacy}.${config.name} has no primary key; conversion ` +
          'copies and replays rows by it. Add one first',
        { table: `${sides.legacy}.${config.name}` },
      );
    }
    const have = new Set(legacy.columns.map((c) => c.name));
    layouts.push({
      name: config.name,
      drizzle: table,
      legacyKey: legacy.primaryKey,
      partitionedKey: declaredKey(table),
      columns: config.columns.map((c) => c.name).filter((c) => have.has(c)),
    });
  }
  return layouts;
}

/** `"a", "b"` or, with a prefix, `s."a", s."b"`. */
export function cols(columns: readonly string[], prefix?: string): string {
  return columns.map((c) => (prefix ? `${prefix}.${quoteIdent(c)}` : quoteIdent(c))).join(', ');
}
