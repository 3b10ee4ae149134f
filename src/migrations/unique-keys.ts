import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';

/**
 * PostgreSQL enforces a UNIQUE index, unique constraint or primary key of a partitioned table
 * within each partition only, so it refuses one whose columns do not include the partition key as
 * plain columns. drizzle-kit does not know a table is partitioned and writes it anyway; the
 * migration then fails on every database, and a later migration that removes the key never runs
 * (migrate stops at the failing one). So generate reads drizzle-kit's latest snapshot and refuses
 * such a key of a family's table before anything is kept.
 */

interface SnapshotColumn {
  name: string;
  primaryKey?: boolean;
  isUnique?: boolean;
  uniqueName?: string;
}

interface SnapshotTable {
  columns?: Record<string, SnapshotColumn>;
  indexes?: Record<
    string,
    { name: string; isUnique: boolean; columns: { expression: string; isExpression: boolean }[] }
  >;
  compositePrimaryKeys?: Record<string, { name: string; columns: string[] }>;
  uniqueConstraints?: Record<string, { name: string; columns: string[] }>;
}

export interface KeySnapshot {
  tables: Record<string, SnapshotTable>;
}

interface UniqueKey {
  /** How the message names it: `UNIQUE index "x"`, `primary key "x"`, ... */
  what: string;
  /** Its plain columns (expressions left out: they never count as the key column). */
  columns: string[];
}

function uniqueKeysOf(table: SnapshotTable, name: string): UniqueKey[] {
  const keys: UniqueKey[] = [];
  for (const column of Object.values(table.columns ?? {})) {
    if (column.primaryKey) {
      keys.push({ what: `primary key (${name}_pkey)`, columns: [column.name] });
    }
    if (column.isUnique) {
      keys.push({
        what: `unique constraint "${column.uniqueName ?? `${name}_${column.name}_unique`}"`,
        columns: [column.name],
      });
    }
  }
  for (const pk of Object.values(table.compositePrimaryKeys ?? {})) {
    keys.push({ what: `primary key "${pk.name}"`, columns: pk.columns });
  }
  for (const unique of Object.values(table.uniqueConstraints ?? {})) {
    keys.push({ what: `unique constraint "${unique.name}"`, columns: unique.columns });
  }
  for (const index of Object.values(table.indexes ?? {})) {
    if (!index.isUnique) continue;
    keys.push({
      what: `UNIQUE index "${index.name}"`,
      columns: index.columns.filter((c) => !c.isExpression).map((c) => c.expression),
    });
  }
  return keys;
}

/** Refuses a unique key of a family's table that lacks the partition key column. */
export function checkUniqueKeys(snapshot: KeySnapshot, families: readonly FamilySpec[]): void {
  for (const family of families) {
    const key = family.partitionBy.column;
    for (const name of family.tables) {
      const table = snapshot.tables[`${family.schema}.${name}`];
      if (!table) continue;
      const bad = uniqueKeysOf(table, name).find((k) => !k.columns.includes(key));
      if (!bad) continue;
      throw new PgpartsError(
        'migration',
        `pgparts: family ${family.name}: the ${bad.what} on partitioned ${family.schema}.${name} ` +
          `must have every partition key column (${key}) among its columns, as plain columns: ` +
          'PostgreSQL can only enforce uniqueness within each partition, and would refuse the ' +
          `migration. Add ${key} to it in the schema (or make it a plain index), then run ` +
          '`pgparts generate` again; nothing was written.',
        { table: `${family.schema}.${name}` },
      );
    }
  }
}
