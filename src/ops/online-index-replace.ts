import { PgpartsError } from '../errors.js';
import {
  type IndexBuildPlan,
  type IndexBuildPlanOptions,
  type IndexBuildSnapshot,
  type IndexBuildStatement,
  planIndexBuild,
} from './online-index-plan.js';
import {
  type OnlineIndexSpec,
  type OnlineIndexSpecInput,
  parseOnlineIndexSpec,
} from './online-index-spec.js';
import {
  dropIndexSql,
  indexMarker,
  partitionIndexName,
  RESET_LOCK_TIMEOUT_SQL,
  renameIndexSql,
  replacementIndexName,
  setLockTimeoutSql,
} from './online-index-sql.js';

/**
 * planIndexReplacement (pure): an index of a partitioned table whose definition changed, built
 * again online without the table ever going without it. Dropping the old index first (what
 * drizzle-kit's file does) leaves queries without it, and a UNIQUE one without its check, for
 * the whole build; so the new index is built beside it, under replacementIndexName, exactly as
 * planIndexBuild builds any index, and swapped in once complete: one short transaction drops
 * the old index (its partitions' indexes go with it) and renames the new one and its
 * partitions' indexes to the names a build under the spec's name gives them.
 *
 * The replacement's parent index carries indexMarker(spec) as its COMMENT from its CREATE on,
 * and keeps it through the rename: an index of the spec's name with that marker is this spec's
 * (swapped in already, or built under its own name where there was nothing to replace), and only
 * what is left of its build is planned. Run again after an interruption, the plan starts from
 * the catalog: the replacement's build resumes, the swap runs once it is complete.
 */

export interface IndexReplacementSnapshot {
  /** The table seen for the spec's name: the index to replace, or this spec's already. */
  existing: IndexBuildSnapshot;
  /** The table seen for the replacement's name (replacementSpec). */
  replacement: IndexBuildSnapshot;
}

const DOCS = 'docs/online-indexes.md';

/** The spec under the name its replacement is built with. */
export function replacementSpec(input: OnlineIndexSpec | OnlineIndexSpecInput): OnlineIndexSpec {
  const spec = parseOnlineIndexSpec(input);
  return { ...spec, name: replacementIndexName(spec.name) };
}

export function planIndexReplacement(
  input: OnlineIndexSpec | OnlineIndexSpecInput,
  snapshots: IndexReplacementSnapshot,
  options: IndexBuildPlanOptions = {},
): IndexBuildPlan {
  const spec = parseOnlineIndexSpec(input);
  const marker = indexMarker(spec);
  const existing = snapshots.existing.parentIndex;
  const begun = snapshots.replacement.parentIndex;
  if (existing?.comment === marker) return planIndexBuild(spec, snapshots.existing, options);
  if (!existing && !begun) return planIndexBuild(spec, snapshots.existing, { ...options, marker });

  const table = `${spec.table.schema}.${spec.table.name}`;
  if (existing && (existing.relkind !== 'I' || !existing.onTable)) {
    throw new PgpartsError(
      'refused',
      `${spec.table.schema}.${spec.name} is not an index of partitioned ${table}; it cannot be replaced by one`,
      { table, docs: DOCS },
    );
  }
  // PostgreSQL refuses to drop an index a constraint uses (a foreign key into the table, a
  // UNIQUE constraint of its own): the swap would fail after the whole build, every time.
  const required = existing?.requiredBy ?? [];
  if (required.length > 0) {
    throw new PgpartsError(
      'refused',
      `index ${spec.table.schema}.${spec.name} cannot be replaced: ${required.join(', ')} ${required.length === 1 ? 'uses' : 'use'} it, and PostgreSQL drops no index a constraint uses; change or drop ${required.length === 1 ? 'that constraint' : 'those constraints'} first (a migration of its own), then run again; nothing was built`,
      { table, docs: DOCS },
    );
  }
  const next = replacementSpec(spec);
  if (begun && begun.comment !== marker) {
    throw new PgpartsError(
      'refused',
      `${spec.table.schema}.${next.name} exists but was not built for this definition of ${spec.name} (a replacement for another one left by an interrupted run, or not pgparts's); drop it (dropIndex) and run again`,
      { table, docs: DOCS },
    );
  }
  const build = planIndexBuild(next, snapshots.replacement, { ...options, marker });
  const swap = swapStatement(spec, next, snapshots);
  const replacement = { index: spec.name, temporary: next.name, swap };
  if (!build.complete) return { ...build, replacement };
  return {
    ...build,
    statements: [
      { kind: 'set-lock-timeout', sql: setLockTimeoutSql(build.lockTimeoutMs) },
      swap,
      { kind: 'reset-lock-timeout', sql: RESET_LOCK_TIMEOUT_SQL },
    ],
    complete: false,
    replacement,
  };
}

/**
 * The swap: DROP INDEX of the old index, then the replacement and each partition's index of it
 * renamed (a partition's name is free once the old index's went with the DROP; one held by any
 * other index is refused here, before anything runs).
 */
function swapStatement(
  spec: OnlineIndexSpec,
  next: OnlineIndexSpec,
  snapshots: IndexReplacementSnapshot,
): IndexBuildStatement {
  const renames = [renameIndexSql(spec.table.schema, next.name, spec.name)];
  for (const partition of snapshots.replacement.partitions) {
    const current =
      partition.indexes.find((i) => i.attached)?.name ?? partitionIndexName(next, partition.name);
    const target = partitionIndexName(spec, partition.name);
    if (current === target) continue;
    const holder = partition.indexes.find((i) => i.name === target);
    const old = snapshots.existing.partitions
      .find((p) => p.schema === partition.schema && p.name === partition.name)
      ?.indexes.find((i) => i.name === target && i.attached);
    if (holder && !old) {
      throw new PgpartsError(
        'refused',
        `index ${partition.schema}.${target} on partition ${partition.name} is not part of ${spec.table.schema}.${spec.name}, and the replacement's index of that partition is to take its name; rename or drop it, then run again`,
        { table: `${spec.table.schema}.${spec.table.name}`, docs: DOCS },
      );
    }
    renames.push(renameIndexSql(partition.schema, current, target));
  }
  const together = [dropIndexSql({ schema: spec.table.schema, name: spec.name }), ...renames];
  return { kind: 'replace-index', sql: `BEGIN; ${together.join('; ')}; COMMIT`, together };
}
