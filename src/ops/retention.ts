import { sql } from 'drizzle-orm';
import { RETIRED_KEYS_TABLE, retiredKeysSetupSql } from '../catalog/retired-keys.js';
import { isManagedComment, MANAGED_MARKER } from '../define/marker.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query, run } from '../run/execute.js';
import {
  DEFAULT_LOCK_TIMEOUT_MS,
  inShortTransaction,
  lockGiveUpError,
  retryOnLockTimeout,
} from '../run/lock-timeout.js';
import { openSession, pgpartsSessionSettings } from '../run/session.js';
import {
  identifierProblem,
  quoteIdent,
  quoteQualified,
  truncateIdentifier,
} from '../sql/identifiers.js';
import { keyCheckSql } from '../sql/key-predicate.js';
import { textLiteral } from '../sql/literals.js';
import { boundSpecSql } from '../sql/partition-ddl.js';

/**
 * retireKey: removes one key's partitions from every table of a family (retention, or an
 * explicit `pgparts retire`), in the order that works with foreign keys between them (docs/postgres-behaviours.md#drop-order-with-foreign-keys):
 * referencing tables first, each partition detached and then dropped or archived; never
 * `DROP ... CASCADE` (docs/postgres-behaviours.md#never-drop-cascade), so the foreign keys stay in place and still reject orphans.
 *
 * - DETACH ... CONCURRENTLY (PostgreSQL 14+) when the parent has no DEFAULT partition; with a
 *   DEFAULT partition PostgreSQL refuses it (docs/postgres-behaviours.md#detach-concurrently-and-default), so a plain DETACH under a short
 *   lock_timeout with retries. The result says which.
 * - After its detach, a referencing partition's foreign keys to the family are dropped: they
 *   would otherwise stop the referenced partition's detach (its rows still point there).
 * - archive: the detached tables move to the archive schema, readable and dumpable; the archived
 *   referencing table gets a foreign key to the archived referenced one. `reattachKey` brings
 *   them back.
 * - Only partitions carrying the pgparts marker are removed; anything else is refused.
 * - The key is recorded in pgparts_retired_keys, so maintenance does not create it again.
 * Interrupted, it can be run again: a detach left pending is finalized, finished tables skipped.
 */

/** The CHECK equal to the key's bound that spares ATTACH its scan (the drain's name for it too). */
const STAGING_CHECK = 'pgparts_partition_bound';

/** The archive schema an option names: any valid identifier (it is quoted). */
function checkedArchiveSchema(name: string): string {
  const problem = identifierProblem(name);
  if (problem) {
    throw new PgpartsError('invalid-input', `archive schema ${JSON.stringify(name)}: ${problem}`);
  }
  return name;
}

export type RetireMode = 'drop' | 'archive';

export interface RetireOptions {
  mode?: RetireMode;
  /** Where archive mode puts the tables. Default: the family's retention.archiveSchema. */
  archiveSchema?: string;
  lockTimeoutMs?: number;
  retries?: number;
  onRetry?: (attempt: number, delayMs: number, error: unknown) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface RetiredPartition {
  table: string;
  partition: string;
  /** Where it is now: null when dropped. */
  archivedAs: string | null;
  rows: number;
}

export interface RetireResult {
  family: string;
  key: string;
  mode: RetireMode;
  status: 'retired' | 'nothing-to-do';
  detach: 'concurrently' | 'plain';
  /** Why not CONCURRENTLY, when plain. */
  detachNote: string | null;
  partitions: RetiredPartition[];
  elapsedMs: number;
}

interface PartitionState {
  table: string;
  name: string;
  attached: boolean;
  detachPending: boolean;
  comment: string | null;
  rows: number;
}

async function partitionState(
  db: AnyPgDatabase,
  family: FamilySpec,
  table: string,
  key: PartitionKey,
): Promise<PartitionState | null> {
  const name = partitionName(family, table, key);
  const qualified = quoteQualified(family.schema, name);
  const [row] = await query<{
    attached: boolean;
    pending: boolean;
    comment: string | null;
    rows: number;
  }>(
    db,
    sql`SELECT i.inhrelid IS NOT NULL AS attached, coalesce(i.inhdetachpending, false) AS pending,
               obj_description(c.oid, 'pg_class') AS comment, greatest(c.reltuples, 0)::bigint::int AS rows
        FROM pg_class c
        LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = to_regclass(${quoteQualified(family.schema, table)})
        WHERE c.oid = to_regclass(${qualified})`,
  );
  if (!row) return null;
  return {
    table,
    name,
    attached: row.attached,
    detachPending: row.pending,
    comment: row.comment,
    rows: row.rows,
  };
}

async function hasDefaultPartition(
  db: AnyPgDatabase,
  schema: string,
  table: string,
): Promise<boolean> {
  const rows = await query<{ n: number }>(
    db,
    sql`SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(${quoteQualified(schema, table)}) AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'`,
  );
  return (rows[0]?.n ?? 0) > 0;
}

/**
 * Foreign keys of `table` that point at any table of the family: on a parent, the family's own
 * keys; on a detached partition, what is left of them (PostgreSQL 14 drops them on detach,
 * later versions keep them as standalone constraints).
 */
async function familyForeignKeys(
  db: AnyPgDatabase,
  family: FamilySpec,
  table: string,
): Promise<{ name: string; columns: string[]; referencedColumns: string[]; referenced: string }[]> {
  const rows = await query<{ name: string; cols: string[]; refcols: string[]; referenced: string }>(
    db,
    sql`SELECT c.conname AS name,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) AS cols,
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o) AS refcols,
               r.relname AS referenced
        FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid
        JOIN pg_namespace n ON n.oid = r.relnamespace
        WHERE c.conrelid = to_regclass(${quoteQualified(family.schema, table)}) AND c.contype = 'f'
          AND c.conparentid = 0 AND n.nspname = ${family.schema}`,
  );
  return rows
    .filter((r) => family.tables.includes(r.referenced))
    .map((r) => ({
      name: r.name,
      columns: r.cols,
      referencedColumns: r.refcols,
      referenced: r.referenced,
    }));
}

export async function retireKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: RetireOptions = {},
): Promise<RetireResult> {
  const started = performance.now();
  const mode = options.mode ?? family.retention?.mode ?? 'drop';
  const archiveSchema = checkedArchiveSchema(
    options.archiveSchema ?? family.retention?.archiveSchema ?? 'pgparts_archive',
  );
  if (key.kind === 'default')
    throw new PgpartsError('invalid-input', 'pgparts: retire: the DEFAULT partition is not a key', {
      step: 'retire',
    });
  const where = `family ${family.name}, key ${keyLabel(key)}`;

  // lock_timeout for the whole session: DETACH ... CONCURRENTLY cannot run in a transaction.
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const session = await openSession(db, { settings: pgpartsSessionSettings(lockTimeoutMs) });
  const s = session.db;
  try {
    const states = [];
    for (const table of [...family.tables].reverse()) {
      const state = await partitionState(s, family, table, key);
      if (state && !isManagedComment(state.comment) && !state.comment?.startsWith('pgparts:')) {
        throw new PgpartsError(
          'refused',
          `pgparts: retire: ${where}: ${family.schema}.${state.name} was not created by pgparts ` +
            '(no pgparts:managed comment); pgparts removes only its own partitions. Drop or detach it yourself.',
          {
            step: 'retire',
            table: `${family.schema}.${state.table}`,
            docs: 'docs/postgres-behaviours.md#never-drop-cascade',
          },
        );
      }
      states.push(state);
    }
    const version = Number(
      (await query<{ v: string }>(s, sql`SELECT current_setting('server_version_num') AS v`))[0]?.v,
    );
    const withDefault = [];
    for (const table of family.tables)
      if (await hasDefaultPartition(s, family.schema, table)) withDefault.push(table);
    const concurrently = version >= 140000 && withDefault.length === 0;
    const detachNote = concurrently
      ? null
      : version < 140000
        ? 'PostgreSQL before 14 has no DETACH ... CONCURRENTLY'
        : `${withDefault.join(', ')} ${withDefault.length === 1 ? 'has' : 'have'} a DEFAULT partition, and PostgreSQL refuses DETACH ... CONCURRENTLY while one exists: plain DETACH under lock_timeout`;

    const base = {
      family: family.name,
      key: keyLabel(key),
      mode,
      detach: concurrently ? ('concurrently' as const) : ('plain' as const),
      detachNote,
    };
    const present = states.filter((x): x is PartitionState => x !== null);
    if (present.length === 0) {
      return {
        ...base,
        status: 'nothing-to-do',
        partitions: [],
        elapsedMs: performance.now() - started,
      };
    }

    const retry = async (statement: string) => {
      const outcome = await retryOnLockTimeout(() => run(s, statement), {
        retries: options.retries,
        onRetry: options.onRetry,
      });
      if (outcome.error === undefined) return;
      throw outcome.lockTimeouts.length === outcome.attempts
        ? lockGiveUpError(`retire ${where}`, outcome.attempts, lockTimeoutMs, outcome.error)
        : outcome.error;
    };

    if (mode === 'archive')
      await run(s, `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(archiveSchema)}`);
    const done: RetiredPartition[] = [];
    const archivedLinks: { table: string; fks: Awaited<ReturnType<typeof familyForeignKeys>> }[] =
      [];
    for (const [i, state] of present.entries()) {
      const parent = quoteQualified(family.schema, state.table);
      const partition = quoteQualified(family.schema, state.name);
      if (state.detachPending) {
        await retry(`ALTER TABLE ${parent} DETACH PARTITION ${partition} FINALIZE`);
      } else if (state.attached) {
        // CONCURRENTLY runs outside any transaction; the session's lock_timeout bounds its waits.
        await retry(
          `ALTER TABLE ${parent} DETACH PARTITION ${partition}${concurrently ? ' CONCURRENTLY' : ''}`,
        );
      }
      if (mode === 'drop') {
        // Dropping the detached table drops its own foreign keys with it; nothing else.
        await retry(`DROP TABLE ${partition}`);
        done.push({
          table: state.table,
          partition: state.name,
          archivedAs: null,
          rows: state.rows,
        });
      } else {
        // Its foreign keys into the family, where they outlived the detach, now stand alone and
        // would block the referenced detach. The archived link is made from the parent's keys.
        for (const fk of await familyForeignKeys(s, family, state.name))
          await retry(`ALTER TABLE ${partition} DROP CONSTRAINT ${quoteIdent(fk.name)}`);
        const fks = await familyForeignKeys(s, family, state.table);
        await retry(`ALTER TABLE ${partition} SET SCHEMA ${quoteIdent(archiveSchema)}`);
        await run(
          s,
          `COMMENT ON TABLE ${quoteQualified(archiveSchema, state.name)} IS ${textLiteral(
            `pgparts:archived from ${family.schema}.${state.table} ${boundSpecSql(key)}`,
          )}`,
        );
        archivedLinks.push({ table: state.name, fks });
        done.push({
          table: state.table,
          partition: state.name,
          archivedAs: `${archiveSchema}.${state.name}`,
          rows: state.rows,
        });
      }
      options.onProgress?.(i + 1, present.length);
    }
    // Archived tables keep their integrity: the referencing one points at the archived referenced one.
    for (const link of archivedLinks) {
      for (const fk of link.fks) {
        const referenced = partitionName(family, fk.referenced, key);
        const exists = await query<{ n: number }>(
          s,
          sql`SELECT count(*)::int AS n FROM pg_class WHERE oid = to_regclass(${quoteQualified(archiveSchema, referenced)})`,
        );
        if ((exists[0]?.n ?? 0) === 0) continue;
        await run(
          s,
          `ALTER TABLE ${quoteQualified(archiveSchema, link.table)} ADD CONSTRAINT ${quoteIdent(truncateIdentifier(`${fk.name}_archived`))}
  FOREIGN KEY (${fk.columns.map(quoteIdent).join(', ')}) REFERENCES ${quoteQualified(archiveSchema, referenced)} (${fk.referencedColumns.map(quoteIdent).join(', ')})`,
        );
      }
    }
    for (const statement of retiredKeysSetupSql(family.schema)) await run(s, statement);
    await s.execute(
      sql`INSERT INTO ${sql.raw(quoteQualified(family.schema, RETIRED_KEYS_TABLE))} (family, key, mode, archive_schema)
          VALUES (${family.name}, ${keyLabel(key)}, ${mode}, ${mode === 'archive' ? archiveSchema : null})
          ON CONFLICT (family, key) DO UPDATE SET mode = EXCLUDED.mode, archive_schema = EXCLUDED.archive_schema, retired_at = now()`,
    );
    return { ...base, status: 'retired', partitions: done, elapsedMs: performance.now() - started };
  } finally {
    await session.release();
  }
}

export interface ReattachResult {
  family: string;
  key: string;
  partitions: { table: string; partition: string; rows: number }[];
  elapsedMs: number;
}

/**
 * Brings an archived key back (a backfill, an audit): referenced tables first, each moved back
 * from the archive schema and attached. A CHECK equal to the bound is added first so ATTACH does
 * not scan the table again under its lock (docs/postgres-behaviours.md#attach-without-scan), and dropped after.
 */
export async function reattachKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: { archiveSchema?: string; lockTimeoutMs?: number; retries?: number } = {},
): Promise<ReattachResult> {
  const started = performance.now();
  const archiveSchema = checkedArchiveSchema(
    options.archiveSchema ?? family.retention?.archiveSchema ?? 'pgparts_archive',
  );
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const partitions: ReattachResult['partitions'] = [];
  for (const table of family.tables) {
    const name = partitionName(family, table, key);
    const archived = `${archiveSchema}.${name}`;
    const [found] = await query<{ rows: number }>(
      db,
      sql`SELECT (SELECT count(*) FROM pg_class WHERE oid = to_regclass(${quoteQualified(archiveSchema, name)}))::int AS rows`,
    );
    if (!found?.rows) {
      throw new PgpartsError(
        'invalid-input',
        `pgparts: reattach: ${where}: ${archived} does not exist; nothing archived for this key`,
        { step: 'reattach', table: `${family.schema}.${table}` },
      );
    }
  }
  for (const table of family.tables) {
    const name = partitionName(family, table, key);
    const archivedTable = quoteQualified(archiveSchema, name);
    const partition = quoteQualified(family.schema, name);
    await inShortTransaction(db, { ...options, what: `reattach ${where}` }, async (tx) => {
      const links = await query<{ name: string }>(
        tx,
        sql`SELECT conname AS name FROM pg_constraint
            WHERE conrelid = to_regclass(${quoteQualified(archiveSchema, name)}) AND contype = 'f' AND conname LIKE '%\_archived'`,
      );
      for (const link of links)
        await run(tx, `ALTER TABLE ${archivedTable} DROP CONSTRAINT ${quoteIdent(link.name)}`);
      await run(tx, `ALTER TABLE ${archivedTable} SET SCHEMA ${quoteIdent(family.schema)}`);
      await run(
        tx,
        `ALTER TABLE ${partition} ADD CONSTRAINT ${quoteIdent(STAGING_CHECK)} CHECK (${keyCheckSql(family, key)})`,
      );
      await run(
        tx,
        `ALTER TABLE ${quoteQualified(family.schema, table)} ATTACH PARTITION ${partition} ${boundSpecSql(key)}`,
      );
      await run(tx, `ALTER TABLE ${partition} DROP CONSTRAINT ${quoteIdent(STAGING_CHECK)}`);
      await run(tx, `COMMENT ON TABLE ${partition} IS ${textLiteral(MANAGED_MARKER)}`);
    });
    const [count] = await query<{ n: number }>(
      db,
      sql`SELECT count(*)::int AS n FROM ${sql.raw(quoteQualified(family.schema, name))}`,
    );
    partitions.push({ table, partition: name, rows: count?.n ?? 0 });
  }
  await db.execute(
    sql`DELETE FROM ${sql.raw(quoteQualified(family.schema, RETIRED_KEYS_TABLE))}
        WHERE family = ${family.name} AND key = ${keyLabel(key)}`,
  );
  return {
    family: family.name,
    key: keyLabel(key),
    partitions,
    elapsedMs: performance.now() - started,
  };
}
