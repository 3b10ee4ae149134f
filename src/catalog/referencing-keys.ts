import { type SQL, sql } from 'drizzle-orm';

/**
 * The foreign keys (pg_constraint, as `k`) that reference one of `tables` (oid expressions),
 * their partitions' copies left out, and `where` (more conditions on `k`) true; each key once,
 * as `columns`. pg_constraint has no index on the referenced table (confrelid), so they are
 * found through pg_depend, where every foreign key depends on the table it references (a normal
 * dependency, once per column; a table's own constraints depend on it as auto ones): an index
 * lookup, not a scan of every constraint of the database.
 */
export function referencingKeysSql(tables: SQL, columns: SQL, where: SQL): SQL {
  return sql`SELECT DISTINCT ${columns}
               FROM pg_depend d JOIN pg_constraint k ON k.oid = d.objid
              WHERE d.classid = 'pg_constraint'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.refobjid IN (${tables}) AND d.deptype = 'n'
                AND k.contype = 'f' AND k.conparentid = 0 AND k.confrelid IN (${tables})
                AND ${where}`;
}
