import { PgpartsError } from '../errors.js';
import { DEFAULT_LOCK_TIMEOUT_MS } from '../run/lock-timeout.js';
import {
  type OnlineIndexSpec,
  type OnlineIndexSpecInput,
  parseOnlineIndexSpec,
} from './online-index-spec.js';
import {
  attachPartitionIndexSql,
  attachPartitionIndexText,
  createParentIndexSql,
  createPartitionIndexSql,
  createPartitionIndexText,
  dropInvalidIndexSql,
  dropInvalidIndexText,
  markIndexSql,
  partitionIndexName,
  RESET_LOCK_TIMEOUT_SQL,
  setLockTimeoutSql,
} from './online-index-sql.js';

/**
 * planIndexBuild (pure): the statements that build one index on a partitioned table online,
 * from a snapshot of the table, its partitions and their indexes. A resumed build plans only
 * what is left: partitions whose index is attached are skipped, INVALID leftovers of an
 * interrupted CREATE INDEX CONCURRENTLY (under this build's derived name) are dropped and built
 * again.
 */

/** What the catalog says about one index (pg_index, pg_am). */
export interface IndexFacts {
  name: string;
  valid: boolean;
  unique: boolean;
  method: string;
  keyColumns: number;
  totalColumns: number;
  /** pg_index.indoption per key column: bit 1 DESC, bit 2 NULLS FIRST. */
  indoption: number[];
  partial: boolean;
}

export interface PartitionIndexFacts extends IndexFacts {
  /** Attached (pg_inherits) to the build's parent index. */
  attached: boolean;
  /** Attached to another partitioned index. */
  attachedElsewhere: boolean;
}

export interface PartitionFacts {
  schema: string;
  name: string;
  /** pg_class.relkind: r (table), p (partitioned: a second level), f (foreign). */
  relkind: string;
  isDefault: boolean;
  indexes: PartitionIndexFacts[];
}

export interface IndexBuildSnapshot {
  /** undefined when the table does not exist. */
  table?: {
    partitioned: boolean;
    /** The partition key's columns in order; null for an expression. */
    partitionKey: (string | null)[];
  };
  /**
   * The relation named like the index in the table's schema, when there is one; `comment` is
   * its COMMENT (a replacement's marker: indexMarker).
   */
  parentIndex?: IndexFacts & {
    relkind: string;
    onTable: boolean;
    comment?: string | null;
    /** The constraints that use it (`name on table`): a foreign key into the table, its own. */
    requiredBy?: string[];
  };
  partitions: PartitionFacts[];
}

export type IndexBuildStatementKind =
  | 'set-lock-timeout'
  | 'create-parent-index'
  | 'drop-invalid-index'
  | 'create-partition-index'
  | 'attach-partition-index'
  | 'revalidate-parent-index'
  /** A replacement swapped in: one transaction (`together`), the old index dropped in it. */
  | 'replace-index'
  | 'reset-lock-timeout';

export interface IndexBuildStatement {
  kind: IndexBuildStatementKind;
  sql: string;
  /** For partition statements: the partition and its index for this build. */
  partition?: { schema: string; name: string; index: string };
  /** Statements run as one transaction (BEGIN and COMMIT around them); `sql` shows them all. */
  together?: string[];
}

/** A statement whose text depends on what the run finds: its template and when it runs. */
export interface ConditionalStatement {
  kind: IndexBuildStatementKind;
  template: string;
  when: string;
}

export type PartitionAction = 'build' | 'rebuild' | 'attach' | 'done';

export interface IndexBuildPlan {
  spec: OnlineIndexSpec;
  lockTimeoutMs: number;
  concurrentLockTimeoutMs: number;
  /** Exactly what will run, in order (empty when the index is complete). */
  statements: IndexBuildStatement[];
  conditional: ConditionalStatement[];
  partitions: { schema: string; name: string; index: string; action: PartitionAction }[];
  /** The parent index exists, every partition has its index attached, and it is valid. */
  complete: boolean;
  /**
   * When the build replaces an index of the same name (planIndexReplacement): that index, the
   * name the replacement is built under, and the transaction that swaps it in once complete.
   */
  replacement?: { index: string; temporary: string; swap: IndexBuildStatement };
}

export interface IndexBuildPlanOptions {
  /** For the statements that make writers wait while they wait: ON ONLY, ATTACH. */
  lockTimeoutMs?: number;
  /**
   * For CREATE / DROP INDEX CONCURRENTLY. Their waits (for the partition's SHARE UPDATE
   * EXCLUSIVE lock, then for transactions older than the build to end) count against
   * lock_timeout, but no writer queues behind them; a short timeout would only make them fail
   * on a table with long transactions.
   */
  concurrentLockTimeoutMs?: number;
  /** A COMMENT set on the parent index in its CREATE's transaction (a replacement's marker). */
  marker?: string;
}

/** The default lock_timeout of CREATE / DROP INDEX CONCURRENTLY (see above). */
export const DEFAULT_CONCURRENT_LOCK_TIMEOUT_MS = 60_000;

const DOCS = 'docs/online-indexes.md';

function describe(spec: OnlineIndexSpec): string {
  return `${spec.table.schema}.${spec.table.name}`;
}

function expectedIndoption(spec: OnlineIndexSpec): number[] {
  return spec.columns.map((column) => {
    const desc = column.order === 'desc';
    const nullsFirst = column.nulls === 'first' || (column.nulls === undefined && desc);
    return (desc ? 1 : 0) | (nullsFirst ? 2 : 0);
  });
}

/**
 * How an existing index differs from the spec, in the terms the catalog can tell. (PostgreSQL
 * attaches a partition's index whose columns match but whose order differs, so order is checked
 * here.)
 */
export function indexDifferences(spec: OnlineIndexSpec, index: IndexFacts): string[] {
  const differences: string[] = [];
  const method = spec.using ?? 'btree';
  if (index.unique !== spec.unique) differences.push(`unique is ${index.unique}`);
  if (index.method !== method) differences.push(`method is ${index.method}, not ${method}`);
  if (index.keyColumns !== spec.columns.length) {
    differences.push(`${index.keyColumns} key columns, not ${spec.columns.length}`);
  }
  if (index.totalColumns !== spec.columns.length + spec.include.length) {
    differences.push(`${index.totalColumns - index.keyColumns} INCLUDE columns`);
  }
  if (method === 'btree' && index.indoption.join(',') !== expectedIndoption(spec).join(',')) {
    differences.push(`column order or NULLS placement differs (indoption ${index.indoption})`);
  }
  if (index.partial !== Boolean(spec.where)) {
    differences.push(index.partial ? 'it is partial' : 'it is not partial');
  }
  return differences;
}

function checkTable(spec: OnlineIndexSpec, snapshot: IndexBuildSnapshot): void {
  const table = describe(spec);
  if (!snapshot.table) {
    throw new PgpartsError('spec-mismatch', `table ${table} does not exist`, { table });
  }
  if (!snapshot.table.partitioned) {
    throw new PgpartsError(
      'spec-mismatch',
      `${table} is not partitioned; build its index with CREATE INDEX CONCURRENTLY instead`,
      { table },
    );
  }
  for (const partition of snapshot.partitions) {
    if (partition.relkind === 'p') {
      throw new PgpartsError(
        'refused',
        `${table} has a partitioned partition ${partition.schema}.${partition.name}; online index builds cover one level of partitioning only`,
        { table, docs: DOCS },
      );
    }
    if (partition.relkind !== 'r') {
      throw new PgpartsError(
        'refused',
        `${table} has partition ${partition.schema}.${partition.name} of relkind ${partition.relkind}; only plain tables can have indexes built on them`,
        { table, docs: DOCS },
      );
    }
  }
  if (spec.unique) {
    const columns = new Set(spec.columns.flatMap((c) => ('column' in c ? [c.column] : [])));
    const key = snapshot.table.partitionKey;
    const missing = key.filter((column) => column === null || !columns.has(column));
    if (missing.length > 0) {
      throw new PgpartsError(
        'invalid-config',
        `a UNIQUE index on partitioned ${table} must have every partition key column (${key.map((c) => c ?? '<expression>').join(', ')}) among its columns, as plain columns: PostgreSQL can only enforce uniqueness within each partition`,
        { table, docs: DOCS },
      );
    }
  }
}

function checkParentIndex(spec: OnlineIndexSpec, snapshot: IndexBuildSnapshot): void {
  const index = snapshot.parentIndex;
  if (!index) return;
  const table = describe(spec);
  if (index.relkind !== 'I' || !index.onTable) {
    throw new PgpartsError(
      'refused',
      `${spec.table.schema}.${spec.name} already exists and is not an index of partitioned ${table}; choose another index name`,
      { table },
    );
  }
  const differences = indexDifferences(spec, index);
  if (differences.length > 0) {
    throw new PgpartsError(
      'spec-mismatch',
      `index ${spec.table.schema}.${spec.name} on ${table} exists but differs from the spec: ${differences.join('; ')}; replace it online (buildIndexOnline with { replace: true }, what a -- pgparts:replace-index-online line does), drop it, or give the new index another name`,
      { table, docs: DOCS },
    );
  }
}

function checkNames(spec: OnlineIndexSpec, snapshot: IndexBuildSnapshot): void {
  const seen = new Map<string, string>();
  for (const partition of snapshot.partitions) {
    const key = `${partition.schema}.${partitionIndexName(spec, partition.name)}`;
    const other = seen.get(key);
    if (other) {
      throw new PgpartsError(
        'refused',
        `partitions ${other} and ${partition.name} would both get index ${key}; rename the index`,
        { table: describe(spec) },
      );
    }
    seen.set(key, partition.name);
  }
}

function conditionalStatements(spec: OnlineIndexSpec): ConditionalStatement[] {
  return [
    {
      kind: 'drop-invalid-index',
      template: dropInvalidIndexText('<schema>.<partition index>'),
      when: 'before trying a CREATE INDEX CONCURRENTLY again, when the try that failed (lock_timeout) left its index INVALID',
    },
    {
      kind: 'create-partition-index',
      template: createPartitionIndexText(spec, '<partition index>', '<schema>.<partition>'),
      when: 'for each partition found without the index when partitions are listed again after the statements above (one created before the parent index existed)',
    },
    {
      kind: 'attach-partition-index',
      template: attachPartitionIndexText(spec, '<schema>.<partition index>'),
      when: 'after each such CREATE INDEX CONCURRENTLY',
    },
    {
      kind: 'revalidate-parent-index',
      template: attachPartitionIndexText(spec, '<schema>.<an attached partition index>'),
      when: 'when every partition has its index attached but the parent index is still invalid (a partition without it was detached meanwhile): attaching an attached index again makes PostgreSQL check the parent and mark it valid',
    },
  ];
}

export function planIndexBuild(
  input: OnlineIndexSpec | OnlineIndexSpecInput,
  snapshot: IndexBuildSnapshot,
  options: IndexBuildPlanOptions = {},
): IndexBuildPlan {
  const spec = parseOnlineIndexSpec(input);
  checkTable(spec, snapshot);
  checkParentIndex(spec, snapshot);
  checkNames(spec, snapshot);
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const concurrentLockTimeoutMs =
    options.concurrentLockTimeoutMs ?? Math.max(lockTimeoutMs, DEFAULT_CONCURRENT_LOCK_TIMEOUT_MS);
  // Three groups, each under its lock_timeout: the parent's index, the partitions' builds, the
  // attaches. Killed between groups, the next run starts from what the catalog shows.
  const parentWork: IndexBuildStatement[] = [];
  const builds: IndexBuildStatement[] = [];
  const attaches: IndexBuildStatement[] = [];
  const partitions: IndexBuildPlan['partitions'] = [];

  if (!snapshot.parentIndex) {
    const create = createParentIndexSql(spec, snapshot.partitions.length > 0);
    // With a marker, the index and its COMMENT commit together: a replacement is never found
    // begun but unmarked (and refused as another's).
    const mark =
      options.marker === undefined
        ? undefined
        : markIndexSql(spec.table.schema, spec.name, options.marker);
    parentWork.push(
      mark === undefined
        ? { kind: 'create-parent-index', sql: create }
        : {
            kind: 'create-parent-index',
            sql: `BEGIN; ${create}; ${mark}; COMMIT`,
            together: [create, mark],
          },
    );
  }
  for (const partition of snapshot.partitions) {
    const index = partitionIndexName(spec, partition.name);
    const target = { schema: partition.schema, name: partition.name, index };
    const attached = partition.indexes.find((i) => i.attached);
    const own = partition.indexes.find((i) => i.name === index);
    if (own && !own.attached) {
      // Only an index the build could have made is dropped, attached or built upon.
      const where = `index ${partition.schema}.${index} on partition ${partition.name}`;
      if (own.attachedElsewhere) {
        throw new PgpartsError(
          'refused',
          `${where} belongs to another partitioned index; give the new index another name`,
          { table: describe(spec), docs: DOCS },
        );
      }
      const differences = indexDifferences(spec, own);
      if (differences.length > 0) {
        throw new PgpartsError(
          'spec-mismatch',
          `${where} exists${own.valid ? '' : ' (INVALID)'} but differs from the spec: ${differences.join('; ')}; it is not this build's: drop it (DROP INDEX CONCURRENTLY) or give the new index another name`,
          { table: describe(spec), docs: DOCS },
        );
      }
    }
    const leftover = own !== undefined && !own.valid && !own.attached;
    if (leftover) {
      builds.push({
        kind: 'drop-invalid-index',
        sql: dropInvalidIndexSql(partition.schema, index),
        partition: target,
      });
    }
    if (attached) {
      partitions.push({ ...target, index: attached.name, action: 'done' });
      continue;
    }
    if (!own || leftover) {
      builds.push({
        kind: 'create-partition-index',
        sql: createPartitionIndexSql(spec, partition),
        partition: target,
      });
    }
    attaches.push({
      kind: 'attach-partition-index',
      sql: attachPartitionIndexSql(spec, partition.schema, index),
      partition: target,
    });
    partitions.push({ ...target, action: leftover ? 'rebuild' : own ? 'attach' : 'build' });
  }

  const allAttached = partitions.every((p) => p.action === 'done');
  const parentInvalid = snapshot.parentIndex !== undefined && !snapshot.parentIndex.valid;
  const first = snapshot.partitions[0];
  const firstAttached = first?.indexes.find((i) => i.attached);
  if (allAttached && parentInvalid && first && firstAttached) {
    attaches.push({
      kind: 'revalidate-parent-index',
      sql: attachPartitionIndexSql(spec, first.schema, firstAttached.name),
    });
  }

  const statements: IndexBuildStatement[] = [];
  let current: number | undefined;
  for (const [group, timeout] of [
    [parentWork, lockTimeoutMs],
    [builds, concurrentLockTimeoutMs],
    [attaches, lockTimeoutMs],
  ] as const) {
    if (group.length === 0) continue;
    if (timeout !== current) {
      statements.push({ kind: 'set-lock-timeout', sql: setLockTimeoutSql(timeout) });
      current = timeout;
    }
    statements.push(...group);
  }
  if (statements.length > 0) {
    statements.push({ kind: 'reset-lock-timeout', sql: RESET_LOCK_TIMEOUT_SQL });
  }
  return {
    spec,
    lockTimeoutMs,
    concurrentLockTimeoutMs,
    statements,
    conditional: conditionalStatements(spec),
    partitions,
    complete: snapshot.parentIndex?.valid === true && allAttached,
  };
}

/** The plan as a dry run prints it: each statement, then the conditional ones as comments. */
export function formatIndexBuildPlan(plan: IndexBuildPlan): string {
  const table = describe(plan.spec);
  if (plan.statements.length === 0) {
    return `-- index ${plan.spec.table.schema}.${plan.spec.name} on ${table}: complete, nothing to run\n`;
  }
  const replacing = plan.replacement;
  const swapLater =
    replacing !== undefined && !plan.statements.some((s) => s.kind === 'replace-index');
  const lines = [
    `-- index ${plan.spec.table.schema}.${plan.spec.name} on ${table}, built online (no transaction; each statement retried on lock_timeout)`,
    ...(replacing
      ? [
          `-- it replaces ${plan.spec.table.schema}.${replacing.index}, which stays in use until the swap: one short transaction that drops it and gives the new index its name`,
        ]
      : []),
    ...plan.statements.map((s) => `${s.sql};`),
    ...(swapLater && replacing
      ? [
          `-- then, once the new index is complete (partitions listed again), under lock_timeout ${plan.lockTimeoutMs} ms:`,
          `${replacing.swap.sql};`,
        ]
      : []),
    '-- run only when the build finds that they are needed:',
    ...plan.conditional.flatMap((c) => [`-- ${c.when}:`, `--   ${c.template};`]),
  ];
  return `${lines.join('\n')}\n`;
}
