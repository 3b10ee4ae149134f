import { keyTypeProblem } from '../define/key-types.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';

/**
 * A partition key column of a type the engine refuses (an enum LIST key, a RANGE on an integer
 * id, text values on an integer column) passes drizzle-kit and migrate, and breaks every
 * database later: the partitions migration fails (RANGE bounds on an integer), or status, plan
 * and apply refuse, and PostgreSQL cannot change a partition key's type afterwards. So generate
 * reads the key columns' types from drizzle-kit's latest snapshot and refuses, by the engine's
 * own rule (define/key-types.ts), before anything is kept.
 */

interface SnapshotColumn {
  name: string;
  type: string;
  /** Set for an enum (its schema). */
  typeSchema?: string;
}

export interface ColumnSnapshot {
  tables: Record<string, { name: string; columns?: Record<string, SnapshotColumn> }>;
}

/** Refuses every family whose key column has a type the engine does not take; lists them all. */
export function checkKeyTypes(
  snapshot: ColumnSnapshot | undefined,
  families: readonly FamilySpec[],
): void {
  if (!snapshot) return;
  const problems: string[] = [];
  for (const family of families) {
    for (const table of family.tables) {
      const column = Object.values(
        snapshot.tables[`${family.schema}.${table}`]?.columns ?? {},
      ).find((c) => c.name === family.partitionBy.column);
      if (!column) continue;
      // An enum is never accepted; named with its schema, as the catalog names it.
      const type = column.typeSchema ? `${column.typeSchema}.${column.type}` : column.type;
      const problem = keyTypeProblem(family, type);
      if (problem)
        problems.push(`family ${family.name}: table ${family.schema}.${table}: ${problem}`);
    }
  }
  if (problems.length === 0) return;
  throw new PgpartsError(
    'migration',
    `pgparts: partition key columns of a type the partitions cannot have; PostgreSQL cannot ` +
      `change a partition key's type once the table exists, so nothing was written:\n` +
      `${problems.map((p) => `  - ${p}`).join('\n')}\n` +
      "Change the column in the schema (or the family's partitionBy), then run `pgparts generate` again.",
  );
}
