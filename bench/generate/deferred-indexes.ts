import type postgres from 'postgres';
import { quoteQualified } from '../../src/sql/identifiers.js';

interface SecondaryIndex {
  name: string;
  def: string;
}

/**
 * The partitioned parents' secondary indexes (not backing a primary key or unique constraint),
 * dropped before the bulk load and built again after it. Building an index over loaded rows is
 * several times faster than maintaining it row by row, and it leaves the partitioned side's
 * indexes as compact as the twin's (which are built after its copy): the comparison stays fair.
 * Keys and unique constraints stay: the foreign keys need them and the load must respect them.
 */
export async function dropSecondaryIndexes(
  sql: postgres.Sql,
  tables: string[],
): Promise<SecondaryIndex[]> {
  const indexes = await sql<SecondaryIndex[]>`
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace
    WHERE n.nspname = 'public' AND t.relname = ANY(${tables})
      AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
    ORDER BY c.relname`;
  // Dropping a partitioned index drops its partitions' indexes with it.
  for (const index of indexes)
    await sql.unsafe(`DROP INDEX ${quoteQualified('public', index.name)}`);
  return indexes;
}

/** Builds them again on the parents, which builds each partition's index (ON ONLY would not). */
export async function createSecondaryIndexes(
  sql: postgres.Sql,
  indexes: SecondaryIndex[],
): Promise<void> {
  for (const index of indexes) await sql.unsafe(index.def.replace(' ON ONLY ', ' ON '));
}
