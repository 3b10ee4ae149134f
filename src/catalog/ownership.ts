import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { rowsOf } from '../run/rows.js';
import { quoteQualified } from '../sql/identifiers.js';
import { OWNED_TABLES, OWNERSHIP_ADOPTED, type OwnedRole } from '../sql/ownership.js';

/** Ownership as recorded in a family schema's ownership table (see sql/ownership.ts). */
export interface OwnershipRecords {
  /** The families whose existing partitions were carried over; their comments no longer count. */
  adopted: Set<string>;
  /** By oid (text): the table's schema and name when recorded, and its role. */
  byOid: Map<
    string,
    { schema: string; name: string; role: OwnedRole; family: string; parent: string }
  >;
}

async function exists(db: AnyPgDatabase, schema: string, table: string): Promise<boolean> {
  const [row] = rowsOf<{ t: string | null }>(
    await db.execute(sql`SELECT to_regclass(${quoteQualified(schema, table)})::text AS t`),
  );
  return !!row?.t;
}

/** Whether the family's existing partitions were carried over into the ownership record. */
export async function ownershipCarriedOver(
  db: AnyPgDatabase,
  schema: string,
  family: string,
): Promise<boolean> {
  if (!(await exists(db, schema, OWNERSHIP_ADOPTED))) return false;
  const [row] = rowsOf<{ n: number }>(
    await db.execute(
      sql`SELECT count(*)::int AS n FROM ${sql.raw(quoteQualified(schema, OWNERSHIP_ADOPTED))}
          WHERE family = ${family}`,
    ),
  );
  return (row?.n ?? 0) > 0;
}

/** The rows of a schema's ownership table (it must exist). */
export function ownedRowsSql(schema: string): SQL {
  // relid::oid: the number (a regclass as text is the table's name).
  return sql`SELECT relid::oid::text AS relid, schema, name, role, family, parent
             FROM ${sql.raw(quoteQualified(schema, OWNED_TABLES))}`;
}

/** The families of a schema whose partitions were carried over (the table must exist). */
export function adoptedRowsSql(schema: string): SQL {
  return sql`SELECT family FROM ${sql.raw(quoteQualified(schema, OWNERSHIP_ADOPTED))}`;
}

/** OwnershipRecords from the rows of ownedRowsSql and adoptedRowsSql. */
export function ownershipFromRows(
  owned: readonly Record<string, unknown>[],
  adopted: readonly Record<string, unknown>[],
): OwnershipRecords {
  const records: OwnershipRecords = { adopted: new Set(), byOid: new Map() };
  for (const row of owned) {
    records.byOid.set(String(row.relid), {
      schema: String(row.schema),
      name: String(row.name),
      role: row.role as OwnedRole,
      family: String(row.family),
      parent: String(row.parent),
    });
  }
  for (const row of adopted) records.adopted.add(String(row.family));
  return records;
}

/**
 * The role pgparts recorded for the table `schema.name` as it is now (oid, schema and name all
 * match), read from the ownership table in `familySchema`; null when pgparts does not own it.
 */
export async function ownedRole(
  db: AnyPgDatabase,
  familySchema: string,
  schema: string,
  name: string,
): Promise<OwnedRole | null> {
  if (!(await exists(db, familySchema, OWNED_TABLES))) return null;
  return (await ownedRoles(db, familySchema, schema, [name])).get(name) ?? null;
}

/**
 * ownedRole for several tables of `schema` in one read, by name; a table pgparts does not own is
 * absent. The caller knows the ownership table exists.
 */
export async function ownedRoles(
  db: AnyPgDatabase,
  familySchema: string,
  schema: string,
  names: readonly string[],
): Promise<Map<string, OwnedRole>> {
  return ownedRolesFrom(
    rowsOf<Record<string, unknown>>(await db.execute(ownedRolesSql(familySchema, schema, names))),
  );
}

/** ownedRoles' read, for a batch: the ownership table must exist, or the statement fails. */
export function ownedRolesSql(familySchema: string, schema: string, names: readonly string[]): SQL {
  const tables = sql.join(
    names.map((name) => sql`to_regclass(${quoteQualified(schema, name)})`),
    sql`, `,
  );
  return sql`SELECT o.name, o.role FROM ${sql.raw(quoteQualified(familySchema, OWNED_TABLES))} o
             JOIN pg_class c ON c.oid = o.relid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE o.relid IN (${tables}) AND n.nspname = o.schema AND c.relname = o.name`;
}

/** The roles in the rows of ownedRolesSql, by name. */
export function ownedRolesFrom(rows: readonly Record<string, unknown>[]): Map<string, OwnedRole> {
  return new Map(rows.map((r) => [String(r.name), r.role as OwnedRole]));
}
