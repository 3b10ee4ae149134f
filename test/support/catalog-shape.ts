import type postgres from 'postgres';

/**
 * What two databases must agree on to be "the same install": tables and their kinds, partitions
 * with their bounds (read in UTC), indexes with their definitions and indoption (DESC/NULLS
 * FIRST per column), constraints, extensions. Names only, no oids, sorted.
 */
/** `sql` must be a single-connection client (max: 1): the TimeZone it sets must hold throughout. */
export async function catalogShape(sql: postgres.Sql, schemas: string[] = ['public']) {
  await sql`SET TimeZone = 'UTC'`;
  const tables = await sql`
    SELECT n.nspname || '.' || c.relname AS name, c.relkind::text AS kind,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(${schemas}) AND c.relkind IN ('r', 'p', 'm', 'v')
    ORDER BY 1`;
  const partitions = await sql`
    SELECT parent.relname AS parent, child.relname AS child,
           pg_get_expr(child.relpartbound, child.oid) AS bound
    FROM pg_inherits i
    JOIN pg_class parent ON parent.oid = i.inhparent
    JOIN pg_class child ON child.oid = i.inhrelid
    JOIN pg_namespace n ON n.oid = child.relnamespace
    WHERE n.nspname = ANY(${schemas}) AND child.relkind IN ('r', 'p')
    ORDER BY 1, 2`;
  const indexes = await sql`
    SELECT ic.relname AS name, c.relname AS "table", pg_get_indexdef(x.indexrelid) AS def,
           x.indoption::text AS indoption, x.indisvalid AS valid
    FROM pg_index x
    JOIN pg_class ic ON ic.oid = x.indexrelid
    JOIN pg_class c ON c.oid = x.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(${schemas})
    ORDER BY 2, 1`;
  const constraints = await sql`
    SELECT c.relname AS "table", k.conname AS name, k.contype::text AS type,
           pg_get_constraintdef(k.oid) AS def
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY(${schemas})
    ORDER BY 1, 2`;
  const extensions = await sql`SELECT extname FROM pg_extension ORDER BY 1`;
  await sql`RESET TimeZone`;
  return {
    tables: [...tables],
    partitions: [...partitions],
    indexes: [...indexes],
    constraints: [...constraints],
    extensions: extensions.map((e) => e.extname),
  };
}
