import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query } from '../run/execute.js';
import { blockingIndexTable } from './blocking-indexes.js';
import type { MigrationFile } from './journal.js';

/**
 * migrate's side of generate's refusal (blocking-indexes.ts): a pending migration that builds an
 * index on a partitioned table with a plain `CREATE INDEX` (drizzle-kit's own file, written
 * outside `pgparts generate`) holds the writers of every partition for the whole build. migrate
 * refuses it, before it applies anything, when the table holds data now; on an empty table (a
 * new database, a table an earlier file of the same run creates) the build takes no time and runs
 * as written. `allowBlockingIndexes` builds it anyway.
 */

export interface PendingFile {
  source: string;
  folder: string;
  file: MigrationFile;
}

interface BlockingBuild {
  pending: PendingFile;
  statement: string;
  table: string;
  partitions: number;
  bytes: number;
}

interface TableRow {
  written: string;
  table: string;
  partitions: number;
  bytes: number;
}

/**
 * Each table such a statement names, as the server resolves it now (search_path included), that
 * is partitioned: its leaf partitions and their size on disk (read from the files' sizes: no lock
 * taken, no row read). A table that does not exist yet reads as nothing.
 */
async function partitionedTables(
  db: AnyPgDatabase,
  written: readonly string[],
): Promise<Map<string, TableRow>> {
  if (written.length === 0) return new Map();
  const rows = await query<TableRow>(
    db,
    sql`SELECT w.written, c.oid::regclass::text AS "table",
               (SELECT count(*)::int FROM pg_partition_tree(c.oid) t WHERE t.isleaf) AS partitions,
               (SELECT coalesce(sum(pg_relation_size(t.relid)), 0)::float8
                  FROM pg_partition_tree(c.oid) t WHERE t.isleaf) AS bytes
        FROM jsonb_array_elements_text(${JSON.stringify(written)}::jsonb) AS w(written)
        JOIN pg_class c ON c.oid = to_regclass(w.written)
        WHERE c.relkind = 'p'`,
  );
  return new Map(rows.map((r) => [r.written, { ...r, bytes: Number(r.bytes) }]));
}

const megabytes = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} kB`;

/** Refuses the pending files' plain index builds on partitioned tables that hold data. */
export async function refuseBlockingIndexBuilds(
  db: AnyPgDatabase,
  pending: readonly PendingFile[],
): Promise<void> {
  const candidates: { pending: PendingFile; statement: string; written: string }[] = [];
  for (const p of pending) {
    if (p.file.online) continue;
    for (const statement of p.file.statements) {
      const table = blockingIndexTable(statement);
      if (table)
        candidates.push({ pending: p, statement: statement.trim(), written: table.written });
    }
  }
  const tables = await partitionedTables(db, [...new Set(candidates.map((c) => c.written))]);
  const blocking: BlockingBuild[] = [];
  for (const c of candidates) {
    const found = tables.get(c.written);
    if (found && found.bytes > 0) blocking.push({ ...c, ...found });
  }
  if (blocking.length === 0) return;
  const lines = blocking.map(
    (b) =>
      `${b.pending.source} ${b.pending.file.tag} (${join(b.pending.folder, `${b.pending.file.tag}.sql`)}): ${b.statement}\n    (${b.table}: ${b.partitions} partition(s), ${megabytes(b.bytes)} on disk)`,
  );
  throw new PgpartsError(
    'migration',
    'pgparts: migrate: a pending migration builds an index on a partitioned table that holds ' +
      'data with a plain CREATE INDEX, which holds the writers of every partition for the whole ' +
      `build:\n  ${lines.join('\n  ')}\nNothing was applied. Such a file was written by ` +
      'drizzle-kit outside `pgparts generate`: remove it (`npx drizzle-kit drop`, or delete it, ' +
      'its meta/*_snapshot.json and its journal entry) and run `pgparts generate`, which writes ' +
      'the index as an online build (-- pgparts:online). To build it as written anyway, while ' +
      'the writers wait: `pgparts migrate --allow-blocking-indexes` (allowBlockingIndexes: true).',
    { step: 'migrate' },
  );
}
