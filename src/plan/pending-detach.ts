import type { FamilySnapshot } from '../catalog/snapshot.js';
import type { PartitionKey } from '../define/partition-key.js';
import { quoteQualified } from '../sql/identifiers.js';

/** `ALTER TABLE parent DETACH PARTITION partition FINALIZE`: completes an interrupted detach. */
export function finalizeDetachSql(schema: string, parent: string, partition: string): string {
  return `ALTER TABLE ${quoteQualified(schema, parent)} DETACH PARTITION ${quoteQualified(schema, partition)} FINALIZE`;
}

export interface PendingDetach {
  table: string;
  partition: string;
  /** null when the bound is not one key the planner understands. */
  key: PartitionKey | null;
  bound: string;
}

/**
 * Partitions left "detach pending" by an interrupted DETACH ... CONCURRENTLY (new queries
 * already no longer see them; the detach only needs finishing).
 */
export function pendingDetaches(snapshot: FamilySnapshot): PendingDetach[] {
  return snapshot.tables.flatMap((table) =>
    table.partitions
      .filter((p) => p.detachPending)
      .map((p) => ({ table: table.name, partition: p.name, key: p.key, bound: p.bound })),
  );
}
