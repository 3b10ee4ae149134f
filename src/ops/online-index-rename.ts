import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  DEFAULT_RETRIES,
  runLockedTransaction,
} from '../run/lock-timeout.js';
import { openSession } from '../run/session.js';
import { inspectIndexBuild } from './online-index-inspect.js';
import type { IndexBuildSnapshot } from './online-index-plan.js';
import {
  type IndexRename,
  type IndexRenameInput,
  indexRenameSchema,
  type OnlineIndexSpec,
} from './online-index-spec.js';
import { partitionIndexName, renameIndexSql } from './online-index-sql.js';

/**
 * An index of a partitioned table renamed, its definition unchanged. drizzle-kit writes a rename
 * as `DROP INDEX` of the old name and `CREATE INDEX` of the new one, which on a partitioned table
 * holding rows leaves it without the index for a whole build; `ALTER INDEX ... RENAME TO` changes
 * the name alone, in a moment, under SHARE UPDATE EXCLUSIVE on the index (writers go on). The
 * partitions' indexes named after the old name the way a build names them are renamed after the
 * new one, in the same transaction; others keep their names (they belong to it all the same).
 * Run again, it finds the new name and the old one gone, and does nothing.
 */

const DOCS = 'docs/online-indexes.md';

export interface IndexRenamePlan {
  rename: IndexRename;
  /** One transaction; empty when the rename is done already. */
  statements: string[];
  done: boolean;
}

function parseRename(input: IndexRename | IndexRenameInput): IndexRename {
  const parsed = indexRenameSchema.safeParse(input);
  if (!parsed.success) {
    throw new PgpartsError(
      'invalid-config',
      `index rename: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(rename)'}: ${i.message}`).join('; ')}`,
      { docs: DOCS },
    );
  }
  return parsed.data;
}

/** The index of that name on the table, as inspectIndexBuild reads it. */
function named(rename: IndexRename, name: string): Pick<OnlineIndexSpec, 'table' | 'name'> {
  return { table: rename.table, name };
}

/** planIndexRename (pure): from the table read for the old name and for the new one. */
export function planIndexRename(
  input: IndexRename | IndexRenameInput,
  snapshots: { from: IndexBuildSnapshot; to: IndexBuildSnapshot },
): IndexRenamePlan {
  const rename = parseRename(input);
  const { schema, name: tableName } = rename.table;
  const table = `${schema}.${tableName}`;
  const onTable = (s: IndexBuildSnapshot) =>
    s.parentIndex !== undefined && s.parentIndex.relkind === 'I' && s.parentIndex.onTable;
  const from = snapshots.from.parentIndex;
  const to = snapshots.to.parentIndex;
  if (!from && to && onTable(snapshots.to)) return { rename, statements: [], done: true };
  if (!from) {
    throw new PgpartsError(
      'spec-mismatch',
      `index ${schema}.${rename.from} of ${table}, to be renamed ${rename.to}, does not exist, and neither does ${rename.to}`,
      { table, docs: DOCS },
    );
  }
  if (!onTable(snapshots.from)) {
    throw new PgpartsError(
      'refused',
      `${schema}.${rename.from} is not an index of partitioned ${table}; it is not renamed`,
      { table, docs: DOCS },
    );
  }
  if (to) {
    throw new PgpartsError(
      'refused',
      `${schema}.${rename.to} exists already beside ${rename.from} on ${table}; drop one of them, then run again`,
      { table, docs: DOCS },
    );
  }
  const statements = [renameIndexSql(schema, rename.from, rename.to)];
  for (const partition of snapshots.from.partitions) {
    const current = partitionIndexName(named(rename, rename.from), partition.name);
    const target = partitionIndexName(named(rename, rename.to), partition.name);
    const own = partition.indexes.find((i) => i.attached && i.name === current);
    const taken = partition.indexes.some((i) => i.name === target);
    if (own && !taken) statements.push(renameIndexSql(partition.schema, current, target));
  }
  return { rename, statements, done: false };
}

export interface RenameIndexOptions {
  lockTimeoutMs?: number;
  retries?: number;
  /** Plan only: read the catalog, run nothing. */
  dryRun?: boolean;
}

/** Renames the index (planIndexRename), in one transaction under lock_timeout, retried. */
export async function renameIndexOnline(
  db: AnyPgDatabase,
  input: IndexRenameInput,
  options: RenameIndexOptions = {},
): Promise<IndexRenamePlan> {
  const rename = parseRename(input);
  const session = await openSession(db);
  try {
    const plan = planIndexRename(rename, {
      from: await inspectIndexBuild(session.db, named(rename, rename.from)),
      to: await inspectIndexBuild(session.db, named(rename, rename.to)),
    });
    if (options.dryRun || plan.done) return plan;
    await runLockedTransaction(
      session.db,
      {
        lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
        retries: options.retries ?? DEFAULT_RETRIES,
        what: `renaming index ${rename.table.schema}.${rename.from} to ${rename.to}`,
      },
      plan.statements,
    );
    return plan;
  } finally {
    await session.release();
  }
}
