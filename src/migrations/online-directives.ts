import { PgpartsError } from '../errors.js';
import { buildIndexOnline, dropIndex } from '../ops/online-index.js';
import { inspectIndexBuild } from '../ops/online-index-inspect.js';
import { directiveSubject, onlineIndexDirectives } from '../ops/online-index-migration.js';
import { renameIndexOnline } from '../ops/online-index-rename.js';
import type { IndexDrop } from '../ops/online-index-spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_RETRIES } from '../run/lock-timeout.js';

/**
 * What `pgparts migrate` does with an online migration (ops/online-index-migration.ts): its
 * directives, in order, outside any transaction: builds (and replacements) with
 * buildIndexOnline, renames with renameIndexOnline, drops with dropIndex, each under the run's
 * lock_timeout and retries. Killed part-way, the file is not recorded, and the next run does the
 * directives again: each starts from what the catalog shows (a build resumes, a rename or drop
 * done already does nothing).
 */

/** What an online migration is doing (RunMigrationsOptions.onOnlineIndex). */
export type OnlineIndexProgress =
  | {
      type: 'directive';
      migration: string;
      kind: 'build' | 'replace' | 'rename' | 'drop';
      table: string;
      index: string;
      /** A rename's new name. */
      to?: string;
    }
  /** A partition's index build starts: the `done`th of the `total` this round builds. */
  | {
      type: 'partition';
      migration: string;
      index: string;
      partition: string;
      done: number;
      total: number;
    }
  /** A replacement, complete, is being swapped in. */
  | { type: 'swap'; migration: string; index: string };

export async function runOnlineDirectives(
  conn: AnyPgDatabase,
  text: string,
  migration: string,
  options: {
    lockTimeoutMs?: number;
    retries?: number;
    onOnlineIndex?: (event: OnlineIndexProgress) => void;
  },
): Promise<void> {
  const locks = {
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    retries: options.retries ?? DEFAULT_RETRIES,
  };
  const tell = options.onOnlineIndex;
  for (const directive of onlineIndexDirectives(text, migration)) {
    const { table, ...subject } = directiveSubject(directive);
    tell?.({ type: 'directive', migration, ...subject, table: `${table.schema}.${table.name}` });
    if (directive.kind === 'build') {
      const { spec, replace } = directive;
      // Per round of the build (a round plans again what is left): each partition once, its
      // retries (a lock timeout) not counted again.
      let total = 0;
      let built = new Set<string>();
      await buildIndexOnline(conn, spec, {
        ...locks,
        replace,
        onProgress: (event) => {
          if (event.kind === 'planned') {
            total = event.plan.statements.filter((s) => s.kind === 'create-partition-index').length;
            built = new Set();
          } else if (event.kind !== 'statement') {
            return;
          } else if (event.statement === 'create-partition-index' && event.partition) {
            const partition = event.partition.name;
            if (built.has(partition)) return;
            built.add(partition);
            const done = built.size;
            tell?.({
              type: 'partition',
              migration,
              index: spec.name,
              partition,
              done,
              total: Math.max(total, done),
            });
          } else if (event.statement === 'replace-index') {
            tell?.({ type: 'swap', migration, index: spec.name });
          }
        },
      });
    } else if (directive.kind === 'rename') {
      await renameIndexOnline(conn, directive.rename, locks);
    } else {
      await dropIndexOfTable(conn, directive.drop, locks);
    }
  }
}

/**
 * A drop line's index, dropped only when it is an index of the line's table (or gone already):
 * the name alone could be another table's index by then, which the line is not about.
 */
async function dropIndexOfTable(
  conn: AnyPgDatabase,
  drop: IndexDrop,
  locks: { lockTimeoutMs: number; retries: number },
): Promise<void> {
  await refuseOtherTablesIndex(conn, drop);
  await dropIndex(conn, { schema: drop.table.schema, name: drop.name }, locks);
}

/** Refuses a drop line whose index name is held by anything but an index of its table. */
export async function refuseOtherTablesIndex(conn: AnyPgDatabase, drop: IndexDrop): Promise<void> {
  const { table, name } = drop;
  const found = (await inspectIndexBuild(conn, { table, name })).parentIndex;
  if (found && (found.relkind !== 'I' || !found.onTable)) {
    throw new PgpartsError(
      'refused',
      `pgparts: ${table.schema}.${name}, to be dropped as an index of ${table.schema}.${table.name}, is not one of its indexes; nothing was dropped`,
      { table: `${table.schema}.${table.name}`, docs: 'docs/online-indexes.md' },
    );
  }
}
