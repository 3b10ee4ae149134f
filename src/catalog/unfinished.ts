import { type SQL, sql } from 'drizzle-orm';
import type { FamilySpec } from '../define/spec.js';
import { DRAINED_DEFAULT_MARKER, NEXT_DEFAULT_MARKER, STAGING_MARKER } from '../ops/drain/state.js';
import { CAPTURE_TRIGGER, CHANGE_LOG_TABLE } from '../ops/online-copy/capture.js';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';
import { quoteQualified } from '../sql/identifiers.js';
import { OWNED_TABLES } from '../sql/ownership.js';
import { readOperations } from './operations.js';
import type { UnfinishedWork } from './snapshot.js';

async function exists(db: AnyPgDatabase, schema: string, table: string): Promise<boolean> {
  const [row] = rowsOf<{ t: string | null }>(
    await db.execute(sql`SELECT to_regclass(${quoteQualified(schema, table)})::text AS t`),
  );
  return !!row?.t;
}

/** The tables a drain builds that are not partitions yet, by their role (staging...). */
export function drainTablesSql(family: FamilySpec, ownedTableExists: boolean): SQL {
  // Names from `<table>_` up to, not including, `<table>` + '`' (the byte after '_'): a range
  // of pg_class's index on (relname, relnamespace), which names compare in (collation C), rather
  // than a look at every table of the schema.
  const prefixes = sql.join(
    family.tables.map(
      (t) => sql`(c.relname >= ${`${t}_`}::name AND c.relname < ${`${t}\``}::name)`,
    ),
    sql` OR `,
  );
  const ownedRole = ownedTableExists
    ? sql`(SELECT o.role FROM ${sql.raw(quoteQualified(family.schema, OWNED_TABLES))} o
           WHERE o.relid = c.oid AND o.name = c.relname AND o.family = ${family.name})`
    : sql`NULL::text`;
  return sql`
      SELECT name, role FROM (
        SELECT c.relname AS name,
               coalesce(${ownedRole},
                        CASE obj_description(c.oid, 'pg_class')
                          WHEN ${STAGING_MARKER} THEN 'staging'
                          WHEN ${NEXT_DEFAULT_MARKER} THEN 'next-default'
                          WHEN ${DRAINED_DEFAULT_MARKER} THEN 'drained-default' END) AS role
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${family.schema} AND c.relkind = 'r' AND NOT c.relispartition
          AND (${prefixes})) t
      WHERE role IN ('staging', 'next-default', 'drained-default')
      ORDER BY name`;
}

/** The family's partitions that still carry a drain's capture trigger. */
export function captureTriggersSql(family: FamilySpec): SQL {
  return sql`SELECT DISTINCT name FROM (${schemaCaptureTriggersSql(family.schema, family.tables)}) t
             ORDER BY 1`;
}

/**
 * The partitions of `tables` (parents in `schema`) that still carry a drain's capture trigger,
 * each with its parent's name: inspect reads every family of a schema in one read.
 */
export function schemaCaptureTriggersSql(schema: string, tables: readonly string[]): SQL {
  const parents = sql.join(
    tables.map((t) => sql`to_regclass(${quoteQualified(schema, t)})`),
    sql`, `,
  );
  // From the parents' partitions to their triggers, an index lookup by table and name for each:
  // pg_trigger has no index on the name alone, and every foreign key has triggers of its own.
  // A count, not EXISTS, which the planner may turn into a join that reads pg_trigger whole
  // (PostgreSQL 14 did, beside 1,500 other tables). Names are looked up for the partitions
  // found, almost always none.
  return sql`
      SELECT (SELECT relname FROM pg_class WHERE oid = i.inhparent) AS parent,
             (SELECT relname FROM pg_class WHERE oid = i.inhrelid) AS name
      FROM pg_inherits i
      WHERE i.inhparent IN (${parents})
        AND (SELECT count(*) FROM pg_trigger tg
              WHERE tg.tgrelid = i.inhrelid AND tg.tgname = ${CAPTURE_TRIGGER}) > 0
      ORDER BY 2`;
}

/** The change log's rows for `tables` (the log must exist). */
export function changeLogRowsSql(family: FamilySpec, tables: readonly string[]): SQL {
  return sql`
        SELECT count(*)::float8 AS n FROM ${sql.raw(quoteQualified(family.schema, CHANGE_LOG_TABLE))}
        WHERE source_table IN (${sql.join(
          tables.map((t) => sql`${t}`),
          sql`, `,
        )})`;
}

/**
 * What interrupted operations left on a family: their records (catalog/operations.ts), the
 * tables a drain builds that are not partitions yet, capture triggers still logging on its
 * DEFAULT partitions, and the change log's rows for them. Reads only. (inspect reads the same
 * with the statements above, batched for all families.)
 */
export async function readUnfinished(
  db: AnyPgDatabase,
  family: FamilySpec,
): Promise<UnfinishedWork> {
  const operations = await readOperations(db, family);
  const owned = await exists(db, family.schema, OWNED_TABLES);
  const drainTables = rowsOf<{ name: string; role: string }>(
    await db.execute(drainTablesSql(family, owned)),
  );
  const triggers = rowsOf<{ name: string }>(await db.execute(captureTriggersSql(family)));
  let changeLogRows = 0;
  if (triggers.length > 0 && (await exists(db, family.schema, CHANGE_LOG_TABLE))) {
    const [row] = rowsOf<{ n: number | string }>(
      await db.execute(
        changeLogRowsSql(
          family,
          triggers.map((t) => t.name),
        ),
      ),
    );
    changeLogRows = Number(row?.n ?? 0);
  }
  return {
    operations,
    drainTables,
    captureTriggers: triggers.map((t) => t.name),
    changeLogRows,
  };
}
