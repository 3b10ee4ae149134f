import { type SQLWrapper, sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';

/** One node of `EXPLAIN (FORMAT JSON)` output; only the fields pgparts reads are typed. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Subplans Removed'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
  [field: string]: unknown;
}

/** A scan of one relation in a plan, resolved to the partitioned table and index it belongs to. */
export interface PlanScan {
  nodeType: string;
  /** The relation scanned: a partition, or an unpartitioned table or view. */
  relation: string;
  /** The partitioned table at the top of the relation's tree (the relation itself if none). */
  table: string;
  /** The index used, as named on the partition, if any. */
  index?: string;
  /** The index declared on the partitioned parent that this index is a partition of. */
  rootIndex?: string;
  /** With ANALYZE: false when the executor never ran this scan (a bounded Append stopped early). */
  executed?: boolean;
}

export interface ExplainedQuery {
  plan: PlanNode;
  scans: PlanScan[];
  /** Partitions pruned at executor start (`Subplans Removed`), summed over the plan. */
  subplansRemoved: number;
}

const SCAN_NODES = new Set([
  'Seq Scan',
  'Index Scan',
  'Index Only Scan',
  'Bitmap Heap Scan',
  'Bitmap Index Scan',
  'Tid Scan',
  'Tid Range Scan',
  'Sample Scan',
]);

/** Every node of a plan, depth first. */
export function planNodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
}

/**
 * EXPLAINs a Drizzle query (a query builder or `sql` template) with its real bind parameters, as
 * the server would plan it, and names every relation and index it scans. `analyze: true` runs the
 * query too, which shows executor-start pruning and the scans a LIMIT never reached; wrap DML in
 * a transaction you roll back.
 */
export async function explainQuery(
  db: AnyPgDatabase,
  query: SQLWrapper,
  options: { analyze?: boolean } = {},
): Promise<ExplainedQuery> {
  const mode = options.analyze ? sql.raw('ANALYZE, COSTS OFF, TIMING OFF, ') : sql.raw('');
  const [row] = rowsOf<{ 'QUERY PLAN': unknown }>(
    await db.execute(sql`EXPLAIN (${mode}FORMAT JSON) ${query}`),
  );
  const raw = row?.['QUERY PLAN'];
  const parsed = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
  const plan = parsed[0]?.Plan;
  if (!plan) throw new PgpartsError('internal', 'pgparts: EXPLAIN returned no plan');
  const nodes = planNodes(plan);
  const found = nodes.filter((n) => SCAN_NODES.has(n['Node Type']));
  const names = [
    ...new Set(found.flatMap((n) => [n['Relation Name'], n['Index Name']].filter(isString))),
  ];
  const roots = await partitionRoots(db, names);
  // A Bitmap Index Scan names the index only; its Bitmap Heap Scan parent names the relation.
  const scans: PlanScan[] = [];
  for (const node of nodes) {
    const type = node['Node Type'];
    if (!SCAN_NODES.has(type) || type === 'Bitmap Index Scan') continue;
    const bitmapIndexes =
      type === 'Bitmap Heap Scan'
        ? planNodes(node)
            .filter((n) => n['Node Type'] === 'Bitmap Index Scan')
            .map((n) => n['Index Name'])
        : [node['Index Name']];
    const relation = node['Relation Name'] ?? '?';
    for (const index of bitmapIndexes.length > 0 ? bitmapIndexes : [undefined]) {
      const scan: PlanScan = { nodeType: type, relation, table: roots.get(relation) ?? relation };
      if (index) {
        scan.index = index;
        scan.rootIndex = roots.get(index) ?? index;
      }
      if (options.analyze) scan.executed = (node['Actual Loops'] ?? 0) > 0;
      scans.push(scan);
    }
  }
  const subplansRemoved = nodes.reduce((sum, n) => sum + (n['Subplans Removed'] ?? 0), 0);
  return { plan, scans, subplansRemoved };
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

/**
 * The top of each relation's partition tree (tables and indexes alike). EXPLAIN prints bare
 * names, so they are resolved through the search_path, as the query itself was.
 */
async function partitionRoots(db: AnyPgDatabase, names: string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  const rows = rowsOf<{ name: string; root: string }>(
    await db.execute(sql`
      SELECT n.name, coalesce(r.relname, n.name) AS root
      FROM unnest(ARRAY[${sql.join(
        names.map((n) => sql`${n}`),
        sql`, `,
      )}]::text[]) AS n(name)
      LEFT JOIN pg_class r ON r.oid = pg_partition_root(to_regclass(quote_ident(n.name)))`),
  );
  return new Map(rows.map((r) => [r.name, r.root]));
}
