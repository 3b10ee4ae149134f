import type { SQLWrapper } from 'drizzle-orm';
import {
  type ExplainedQuery,
  explainQuery,
  type PlanNode,
  planNodes,
} from '../../src/query/explain.js';
import type { AnyPgDatabase } from '../../src/run/database.js';

export { explainQuery, planNodes };

/** The relations of one partitioned table a plan scans (executed ones only, under ANALYZE). */
export function scannedPartitions(explained: ExplainedQuery, table: string): string[] {
  const names = explained.scans
    .filter((s) => s.table === table && s.executed !== false)
    .map((s) => s.relation);
  return [...new Set(names)].sort();
}

/** The parent-level index names serving the scans of one table. */
export function indexesUsed(explained: ExplainedQuery, table: string): string[] {
  const names = explained.scans
    .filter((s) => s.table === table)
    .map((s) => s.rootIndex ?? `(${s.nodeType})`);
  return [...new Set(names)].sort();
}

/** Node types of every scan of a table: a test asserts 'Seq Scan' is not among them. */
export function scanTypes(explained: ExplainedQuery, table: string): string[] {
  return [
    ...new Set(explained.scans.filter((s) => s.table === table).map((s) => s.nodeType)),
  ].sort();
}

/** The first node of a type, top down. */
export function findNode(plan: PlanNode, type: string): PlanNode | undefined {
  return planNodes(plan).find((n) => n['Node Type'] === type);
}

/** EXPLAIN with ANALYZE (executes the query: only for reads). */
export function explainAnalyze(db: AnyPgDatabase, query: SQLWrapper): Promise<ExplainedQuery> {
  return explainQuery(db, query, { analyze: true });
}
