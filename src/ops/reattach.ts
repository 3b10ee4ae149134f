import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { readOperations } from '../catalog/operations.js';
import { readRetiredKey } from '../catalog/retired-keys.js';
import { MANAGED_MARKER } from '../define/marker.js';
import {
  checkKeyShape,
  keyLabel,
  type PartitionKey,
  partitionName,
} from '../define/partition-key.js';
import { DEFAULT_ARCHIVE_SCHEMA, type FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { checkDatabase } from '../run/check-database.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query, run } from '../run/execute.js';
import { withKeyOperation } from '../run/key-lock.js';
import { inShortTransaction, lockOptionsSchema } from '../run/lock-timeout.js';
import { checkOptions } from '../run/options.js';
import { asOperation, INSUFFICIENT_PRIVILEGE, pgErrorCode } from '../run/pg-error.js';
import { preflightPrivileges } from '../run/privileges.js';
import { openSession, pgpartsSessionSettings } from '../run/session.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { keyCheckSql } from '../sql/key-predicate.js';
import { textLiteral } from '../sql/literals.js';
import { recordOwnedSql } from '../sql/ownership.js';
import { ATTACH_BOUND_CHECK, boundSpecSql } from '../sql/partition-ddl.js';
import { archivedColumnStatements } from './archived-columns.js';
import { checkKey } from './key-validation.js';
import { ensureOwnership } from './ownership.js';
import { checkedArchiveSchema, forgetRetiredKey } from './retention.js';

/**
 * reattachKey brings an archived key back (a backfill, an audit): referenced tables first, each
 * moved back from the archive schema and attached. A CHECK equal to the bound is added first so
 * ATTACH does not scan the table again under its lock
 * (docs/postgres-behaviours.md#attach-without-scan), and dropped after. Its statements are built
 * before the first change (reattachPlan), so reattachDryRun shows what the run sends.
 */

export interface ReattachOptions {
  /** Where the key was archived: by default where its retire recorded, else the spec's. */
  archiveSchema?: string;
  lockTimeoutMs?: number;
  retries?: number;
}

/** reattachKey's options, checked before anything runs (run/options.ts: unknown names refused). */
const reattachOptionsSchema = z
  .object({ archiveSchema: z.string().optional(), ...lockOptionsSchema.shape })
  .strict();

export interface ReattachResult {
  family: string;
  key: string;
  partitions: { table: string; partition: string; rows: number }[];
  elapsedMs: number;
}

/** One table's reattach: one transaction, its statements in the order they run. */
export interface ReattachUnit {
  table: string;
  /** The partition it becomes, in the family's schema. */
  partition: string;
  /** The archived table it is now (`schema.name`). */
  archived: string;
  /** Rows of the archived table when it was read. */
  rows: number;
  statements: string[];
}

/** What a reattach of the key would do, as reattachDryRun reads it; nothing was changed. */
export interface ReattachPreview {
  family: string;
  key: string;
  archiveSchema: string;
  /** Finishing an interrupted reattach: tables already back are skipped. */
  resuming: boolean;
  /** Referenced tables first, each table archived and not yet back. */
  units: ReattachUnit[];
}

/** Where the archived tables are: the option, else where the key's retire recorded, else the spec's. */
async function reattachArchiveSchema(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: ReattachOptions,
): Promise<string> {
  return checkedArchiveSchema(
    options.archiveSchema ??
      (await recordedArchiveSchema(db, family, key)) ??
      family.retention?.archiveSchema ??
      DEFAULT_ARCHIVE_SCHEMA,
  );
}

/**
 * The statements of each table's reattach, read before any change: the archived table must
 * exist (else 'invalid-input'), columns the parent gained meanwhile are added to it first (or
 * refused: archived-columns.ts), and the foreign keys its retire added between archived tables
 * are dropped. A table already back is skipped when an interrupted reattach is being finished.
 */
async function reattachPlan(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  archiveSchema: string,
  resuming: boolean,
): Promise<ReattachUnit[]> {
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const units: ReattachUnit[] = [];
  const late: { defaultPartition: string; rows: number }[] = [];
  for (const table of family.tables) {
    const name = partitionName(family, table, key);
    const archivedTable = quoteQualified(archiveSchema, name);
    const partition = quoteQualified(family.schema, name);
    const [found] = await query<{ archived: boolean; back: boolean }>(
      db,
      sql`SELECT to_regclass(${archivedTable}) IS NOT NULL AS archived,
                 EXISTS (SELECT 1 FROM pg_inherits
                         WHERE inhrelid = to_regclass(${partition})
                           AND inhparent = to_regclass(${quoteQualified(family.schema, table)})) AS back`,
    );
    // An interrupted reattach may have brought some tables back already.
    if (found?.back && resuming) continue;
    if (!found?.archived) {
      throw new PgpartsError(
        'invalid-input',
        `reattach: ${where}: ${archiveSchema}.${name} does not exist; nothing archived for this key; nothing was changed`,
        { step: 'reattach', table: `${archiveSchema}.${name}` },
      );
    }
    const [held] = await query<{ n: number }>(
      db,
      sql`SELECT count(*)::int AS n FROM ${sql.raw(archivedTable)}`,
    );
    const rows = held?.n ?? 0;
    late.push(...(await lateRows(db, family, table, key)));
    const addColumns = await archivedColumnStatements(
      db,
      { schema: family.schema, name: table },
      { schema: archiveSchema, name },
      rows,
    );
    // The keys an archive gave the table to another archived table of the key (retire's links,
    // `<key>_archived`), found by what they reference: the name may have lost its suffix to
    // PostgreSQL's 63-byte limit. Reattached, the table gets the family's keys from its parent.
    const links = await query<{ name: string }>(
      db,
      sql`SELECT k.conname AS name FROM pg_constraint k
          JOIN pg_class r ON r.oid = k.confrelid
          JOIN pg_namespace n ON n.oid = r.relnamespace
          WHERE k.conrelid = to_regclass(${archivedTable}) AND k.contype = 'f'
            AND n.nspname = ${archiveSchema}
          ORDER BY k.conname`,
    );
    units.push({
      table,
      partition: name,
      archived: `${archiveSchema}.${name}`,
      rows,
      statements: [
        ...links.map(
          (link) => `ALTER TABLE ${archivedTable} DROP CONSTRAINT ${quoteIdent(link.name)}`,
        ),
        ...addColumns,
        `ALTER TABLE ${archivedTable} SET SCHEMA ${quoteIdent(family.schema)}`,
        `ALTER TABLE ${partition} ADD CONSTRAINT ${quoteIdent(ATTACH_BOUND_CHECK)} CHECK (${keyCheckSql(family, key)})`,
        `ALTER TABLE ${quoteQualified(family.schema, table)} ATTACH PARTITION ${partition} ${boundSpecSql(key)}`,
        `ALTER TABLE ${partition} DROP CONSTRAINT ${quoteIdent(ATTACH_BOUND_CHECK)}`,
        `COMMENT ON TABLE ${partition} IS ${textLiteral(MANAGED_MARKER)}`,
        recordOwnedSql({
          schema: family.schema,
          family: family.name,
          parent: table,
          name,
          key: keyLabel(key),
          role: 'partition',
        }),
      ],
    });
  }
  if (late.length > 0) {
    const what = late.map((l) => `${l.defaultPartition}: ${l.rows} row(s)`).join(', ');
    throw new PgpartsError(
      'refused',
      `reattach: ${where}: rows of the key were written after it was archived and are in DEFAULT ` +
        `(${what}); ATTACH refuses a partition whose rows DEFAULT also holds; nothing was ` +
        `changed. To keep them, copy them into the archived tables (${units.map((u) => u.archived).join(', ')}; ` +
        'referenced tables first) and delete them from DEFAULT (referencing tables first) in ' +
        'one transaction, then reattach; or delete them',
      { step: 'reattach', table: late[0]?.defaultPartition },
    );
  }
  return units;
}

/**
 * Rows of `key` in `table`'s DEFAULT partition (written after the key was archived: with no
 * partition of its own, DEFAULT takes them). A scan of DEFAULT, as the ATTACH's own would be.
 */
async function lateRows(
  db: AnyPgDatabase,
  family: FamilySpec,
  table: string,
  key: PartitionKey,
): Promise<{ defaultPartition: string; rows: number }[]> {
  const [found] = await query<{ name: string | null }>(
    db,
    sql`SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(${quoteQualified(family.schema, table)})
          AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'`,
  );
  if (!found?.name) return [];
  const defaultPartition = quoteQualified(family.schema, found.name);
  const [held] = await query<{ n: number }>(
    db,
    sql`SELECT count(*)::int AS n FROM ${sql.raw(defaultPartition)} WHERE ${sql.raw(keyCheckSql(family, key))}`,
  );
  const rows = held?.n ?? 0;
  return rows > 0 ? [{ defaultPartition: `${family.schema}.${found.name}`, rows }] : [];
}

export async function reattachKey(
  pool: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: ReattachOptions = {},
): Promise<ReattachResult> {
  return asOperation('reattach', () => reattachKeyChecked(pool, family, key, options));
}

async function reattachKeyChecked(
  pool: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: ReattachOptions,
): Promise<ReattachResult> {
  checkOptions('reattach', reattachOptionsSchema, options);
  checkDatabase('reattach', pool);
  checkKeyShape('reattach', key);
  const started = performance.now();
  const archiveSchema = await reattachArchiveSchema(pool, family, key, options);
  await preflightPrivileges(pool, 'reattach', [family], { archiveSchema });
  const where = `family ${family.name}, key ${keyLabel(key)}`;
  const session = await openSession(pool, { settings: pgpartsSessionSettings() });
  const db = session.db;
  try {
    return await withKeyOperation(db, family, keyLabel(key), 'reattach', async (op) => {
      const resuming = op.resuming !== null;
      await checkKey(db, family, key, 'reattach', { resuming });
      await ensureOwnership(db, family);
      const units = await reattachPlan(db, family, key, archiveSchema, resuming);
      await op.begin('attach');
      const partitions: ReattachResult['partitions'] = [];
      for (const unit of units) {
        await op.phase(`attach ${unit.partition}`);
        await inShortTransaction(db, { ...options, what: `reattach ${where}` }, async (tx) => {
          for (const statement of unit.statements) await run(tx, statement);
        });
        const [count] = await query<{ n: number }>(
          db,
          sql`SELECT count(*)::int AS n FROM ${sql.raw(quoteQualified(family.schema, unit.partition))}`,
        );
        partitions.push({ table: unit.table, partition: unit.partition, rows: count?.n ?? 0 });
      }
      await forgetRetiredKey(db, family, key);
      return {
        family: family.name,
        key: keyLabel(key),
        partitions,
        elapsedMs: performance.now() - started,
      };
    });
  } finally {
    await session.release();
  }
}

/**
 * What reattachKey would do for the key, read and checked the same way, changing nothing: each
 * table's transaction with its statements, as the run sends them (the run also takes the key's
 * lock and record, sets pgparts's bookkeeping up if it has not been, and deletes the key's
 * retired record at the end).
 */
export async function reattachDryRun(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  options: ReattachOptions = {},
): Promise<ReattachPreview> {
  return asOperation('reattach', async () => {
    checkOptions('reattach', reattachOptionsSchema, options);
    checkDatabase('reattach', db);
    checkKeyShape('reattach', key);
    const archiveSchema = await reattachArchiveSchema(db, family, key, options);
    const session = await openSession(db, { settings: pgpartsSessionSettings() });
    try {
      const s = session.db;
      const [unfinished] = await readOperations(s, family, keyLabel(key));
      const resuming = unfinished?.operation === 'reattach';
      await checkKey(s, family, key, 'reattach', { resuming });
      return {
        family: family.name,
        key: keyLabel(key),
        archiveSchema,
        resuming,
        units: await reattachPlan(s, family, key, archiveSchema, resuming),
      };
    } finally {
      await session.release();
    }
  });
}

/** The archive schema the key's retire recorded, when it archived the key. */
async function recordedArchiveSchema(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
): Promise<string | undefined> {
  try {
    const retired = await readRetiredKey(db, family, keyLabel(key));
    return retired?.mode === 'archive' ? (retired.archiveSchema ?? undefined) : undefined;
  } catch (error) {
    // A role that may not read the record: the privileges check that follows names the grant.
    if (pgErrorCode(error) === INSUFFICIENT_PRIVILEGE) return undefined;
    throw error;
  }
}
