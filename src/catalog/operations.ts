import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { postgresJsServer } from '../run/driver-capabilities.js';
import { rowsOf } from '../run/rows.js';
import { quoteQualified } from '../sql/identifiers.js';
import { textLiteral } from '../sql/literals.js';

/**
 * pgparts's record of the operation in progress on each key: one row per (family, key) while a
 * drain, retire or reattach is under way, deleted when it finishes; a conversion's row (key
 * WHOLE_FAMILY_KEY) lasts from its prep to its cleanup. A row left by a crash says
 * what was interrupted and where; the operation that owns it finishes it, every other one is
 * refused (see run/key-lock.ts). The table lives in the family's schema, like the retired keys,
 * so (schema, family, key) is the identity.
 */
export const OPERATIONS_TABLE = 'pgparts_operations';

/** `convert` is family-wide: recorded under run/key-lock.ts's WHOLE_FAMILY_KEY, from prep to cleanup. */
export const OPERATION_KINDS = ['drain', 'retire', 'reattach', 'convert'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/**
 * The schemas where this process has seen the operations table, per database
 * (`postgresJsServer`). A keyed operation reads the family's records right behind its lock
 * statement only where the table is known to exist (run/key-lock.ts): sent where it does not,
 * that read fails, harmlessly, but the server logs an ERROR for it, an alarm in a log watched
 * for errors. Elsewhere the read waits for the lock statement's reply, which says whether the
 * table exists: one round trip more, once per schema and process. A table dropped since only
 * brings that ERROR back.
 */
const operationsTablesSeen = new Set<string>();

/** Notes that the operations table exists in `schema` of the database `db` reaches. */
export function noteOperationsTable(db: AnyPgDatabase, schema: string): void {
  const server = postgresJsServer(db);
  if (server !== null) operationsTablesSeen.add(JSON.stringify([server, schema]));
}

/** Whether this process has seen the operations table in `schema` of the database `db` reaches. */
export function operationsTableSeen(db: AnyPgDatabase, schema: string): boolean {
  const server = postgresJsServer(db);
  return server !== null && operationsTablesSeen.has(JSON.stringify([server, schema]));
}

export function operationsSetupSql(schema: string): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${quoteQualified(schema, OPERATIONS_TABLE)} (
  "family" text NOT NULL,
  "key" text NOT NULL,
  "operation" text NOT NULL,
  "phase" text NOT NULL,
  "detail" text,
  "started_at" timestamptz NOT NULL DEFAULT now(),
  "updated_at" timestamptz NOT NULL DEFAULT now(),
  "backend_pid" integer,
  PRIMARY KEY ("family", "key")
)`,
  ];
}

export interface RecordedOperation {
  /** The key as keyLabel prints it. */
  key: string;
  operation: OperationKind;
  phase: string;
  /** What the operation needs to be resumed alike (retire: its mode). */
  detail: string | null;
  startedAt: Date;
  updatedAt: Date;
  /** The backend that recorded the last phase. */
  backendPid: number | null;
  /** The key's lock is held (run/key-lock.ts): the operation is running now, not interrupted. */
  running: boolean;
}

/** The operations recorded for a family; none when the table does not exist yet. */
export async function readOperations(
  db: AnyPgDatabase,
  family: { schema: string; name: string },
  key?: string,
): Promise<RecordedOperation[]> {
  return (await readOperationsTable(db, family, key)).operations;
}

/** readOperations, and whether the record's table exists (its CREATE can be left out then). */
export async function readOperationsTable(
  db: AnyPgDatabase,
  family: { schema: string; name: string },
  key?: string,
): Promise<{ exists: boolean; operations: RecordedOperation[] }> {
  const [found] = rowsOf<{ t: string | null }>(
    await db.execute(
      sql`SELECT to_regclass(${quoteQualified(family.schema, OPERATIONS_TABLE)})::text AS t`,
    ),
  );
  if (!found?.t) return { exists: false, operations: [] };
  const rows = rowsOf<Record<string, unknown>>(await db.execute(operationsSql(family, key)));
  const operations = operationsFromRows(rows);
  return { exists: true, operations };
}

/**
 * The rows of a family's operations record (the table must exist), `key`'s only when given.
 * `literals`: values written into the text (textLiteral) rather than sent as parameters, for a
 * statement sent once on a connection (a parameterized one costs postgres.js a round trip of its
 * own to describe it there first).
 */
export function operationsSql(
  family: { schema: string; name: string },
  key?: string,
  options: { literals?: boolean } = {},
): SQL {
  const value = (v: string | null) =>
    options.literals ? sql.raw(v === null ? 'NULL' : textLiteral(v)) : sql`${v}`;
  return operationsOfSql(
    family.schema,
    value,
    sql`family = ${value(family.name)} AND (${value(key ?? null)}::text IS NULL OR key = ${value(key ?? null)}::text)`,
  );
}

/**
 * The operations records of several families of one schema (the table must exist), each row with
 * its `family`: inspect reads every family of a schema in one read, planned once.
 */
export function schemaOperationsSql(schema: string, families: readonly string[]): SQL {
  const names = sql.join(
    families.map((name) => sql`${name}`),
    sql`, `,
  );
  return operationsOfSql(schema, (v) => sql`${v}`, sql`family IN (${names})`);
}

/**
 * The records `where` selects, in the order they began. `running`: the operation's key lock is
 * held (its class is the family's: pgparts:key:<schema>.<family>).
 */
function operationsOfSql(schema: string, value: (v: string | null) => SQL, where: SQL): SQL {
  const lockClass = sql`${value(`pgparts:key:${schema}.`)}::text || family`;
  return sql`SELECT family, key, operation, phase, detail, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms,
                 (extract(epoch FROM updated_at) * 1000)::float8 AS updated_ms, backend_pid AS pid,
                 EXISTS (SELECT 1 FROM pg_locks l
                         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                           AND l.mode = 'ExclusiveLock'
                           AND l.classid::bigint = (hashtext(${lockClass})::bigint & 4294967295)
                           AND l.objid::bigint = (hashtext(key)::bigint & 4294967295)
                           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       ) AS running
          FROM ${sql.raw(quoteQualified(schema, OPERATIONS_TABLE))}
          WHERE ${where}
          ORDER BY started_at, key`;
}

/** RecordedOperations from the rows of operationsSql. */
export function operationsFromRows(rows: readonly Record<string, unknown>[]): RecordedOperation[] {
  return rows.map((r) => ({
    key: String(r.key),
    operation: r.operation as OperationKind,
    phase: String(r.phase),
    detail: r.detail === null || r.detail === undefined ? null : String(r.detail),
    startedAt: new Date(Number(r.started_ms)),
    updatedAt: new Date(Number(r.updated_ms)),
    backendPid: r.pid === null || r.pid === undefined ? null : Number(r.pid),
    running: r.running === true,
  }));
}
