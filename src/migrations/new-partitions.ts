import type { PartitionKey } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import {
  createPartitionOfSql,
  familyMigrationSql,
  initialRangePartitionsSql,
  recordMigratedPartitionSql,
} from '../sql/partition-ddl.js';

/**
 * The partitions a newly created parent starts with: its DEFAULT (when the family has one), the
 * LIST `values` it always keeps, and for RANGE the window around the moment the migration runs
 * (`past` back through `premake` ahead, computed by the database at migrate time). For a whole
 * new family this is the family's migration SQL; for a table added to an existing family, the
 * same for that table alone (the RANGE block only fills what is missing).
 */
export function newPartitionsSql(family: FamilySpec, tables: readonly string[]): string[] {
  const whole = tables.length === family.tables.length;
  // A table added to an existing family: its partitions are recorded as owned (the family may
  // have been carried over already). A whole new family is adopted by its first carry-over.
  const create = (table: string, key: PartitionKey) =>
    whole
      ? createPartitionOfSql(family, table, key)
      : [
          ...createPartitionOfSql(family, table, key),
          recordMigratedPartitionSql(family, table, key),
        ];
  const statements: string[] = [];
  if (family.partitionBy.strategy === 'list') {
    for (const table of tables) {
      for (const value of family.partitionBy.values) {
        statements.push(...create(table, { kind: 'list', value }));
      }
    }
  }
  if (whole) return [...statements, ...familyMigrationSql(family)];
  if (family.defaultPartition) {
    for (const table of tables) statements.push(...create(table, { kind: 'default' }));
  }
  if (family.partitionBy.strategy === 'range') {
    // Only the added tables: the others' windows are the engine's to keep (a past month retention
    // retired must not come back), and their partitions are already recorded.
    const added = family.tables.filter((t) => tables.includes(t));
    statements.push(initialRangePartitionsSql(family, { tables: added, recordOwned: true }));
  }
  return statements;
}
