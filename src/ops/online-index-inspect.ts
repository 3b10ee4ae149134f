import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { query } from '../run/execute.js';
import { jsonValue } from '../run/rows.js';
import type {
  IndexBuildSnapshot,
  IndexFacts,
  PartitionFacts,
  PartitionIndexFacts,
} from './online-index-plan.js';
import type { OnlineIndexSpec } from './online-index-spec.js';

/**
 * Reads what planIndexBuild needs: the table and its partition key, the relation named like the
 * index, and every partition with its indexes (which are attached to the build's parent index,
 * which are valid). Names are compared as values, never put into the SQL.
 */

interface IndexRow {
  name: string;
  valid: boolean;
  unique: boolean;
  method: string;
  key_columns: number;
  total_columns: number;
  indoption: string | null;
  partial: boolean;
}

/** pg_index.indoption, read as space-separated text ('0 3') whatever the driver. */
function smallints(value: string | null): number[] {
  const text = (value ?? '').trim();
  return text === '' ? [] : text.split(' ').map(Number);
}

function indexFacts(row: IndexRow): IndexFacts {
  return {
    name: row.name,
    valid: row.valid,
    unique: row.unique,
    method: row.method,
    keyColumns: Number(row.key_columns),
    totalColumns: Number(row.total_columns),
    indoption: smallints(row.indoption),
    partial: row.partial,
  };
}

export async function inspectIndexBuild(
  db: AnyPgDatabase,
  spec: Pick<OnlineIndexSpec, 'table' | 'name'>,
): Promise<IndexBuildSnapshot> {
  const { schema, name } = spec.table;
  const [table] = await query<{ oid: number; relkind: string; partition_key: (string | null)[] }>(
    db,
    sql`SELECT c.oid::int8 AS oid, c.relkind::text AS relkind,
          (SELECT coalesce(array_agg(a.attname::text ORDER BY k.ord), '{}')
             FROM pg_partitioned_table pt
                  CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
                  LEFT JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum
            WHERE pt.partrelid = c.oid) AS partition_key
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${schema} AND c.relname = ${name} AND c.relkind IN ('r', 'p')`,
  );
  if (!table) return { partitions: [] };
  const tableOid = String(table.oid);

  const [parentIndex] = await query<
    IndexRow & {
      relkind: string;
      on_table: boolean;
      oid: number;
      comment: string | null;
      required_by: string[] | string | null;
    }
  >(
    db,
    sql`SELECT ic.relname AS name, ic.relkind::text AS relkind,
          coalesce(x.indrelid = ${tableOid}::oid, false) AS on_table,
          coalesce(x.indisvalid, false) AS valid, coalesce(x.indisunique, false) AS unique,
          coalesce(am.amname::text, '') AS method, coalesce(x.indnkeyatts, 0) AS key_columns,
          coalesce(x.indnatts, 0) AS total_columns, array_to_string(x.indoption::int2[], ' ') AS indoption,
          x.indpred IS NOT NULL AS partial, ic.oid::int8 AS oid,
          obj_description(ic.oid, 'pg_class') AS comment,
          (SELECT coalesce(json_agg(format('%s on %s', con.conname, con.conrelid::regclass)
                                    ORDER BY con.conname), '[]')
             FROM pg_constraint con WHERE con.conindid = ic.oid) AS required_by
        FROM pg_class ic JOIN pg_namespace n ON n.oid = ic.relnamespace
        LEFT JOIN pg_index x ON x.indexrelid = ic.oid
        LEFT JOIN pg_am am ON am.oid = ic.relam
        WHERE n.nspname = ${schema} AND ic.relname = ${spec.name}`,
  );
  const parentIndexOid = parentIndex?.on_table === true ? String(parentIndex.oid) : '0';

  const partitionRows = await query<{
    schema: string;
    name: string;
    relkind: string;
    is_default: boolean;
    indexes: (IndexRow & { attached: boolean; attached_elsewhere: boolean })[] | string;
  }>(
    db,
    sql`SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
          pg_get_expr(c.relpartbound, 0) = 'DEFAULT' AS is_default,
          (SELECT coalesce(json_agg(json_build_object(
                    'name', ic.relname, 'valid', x.indisvalid, 'unique', x.indisunique,
                    'method', am.amname, 'key_columns', x.indnkeyatts,
                    'total_columns', x.indnatts, 'indoption', array_to_string(x.indoption::int2[], ' '),
                    'partial', x.indpred IS NOT NULL,
                    'attached', EXISTS (SELECT 1 FROM pg_inherits h
                                         WHERE h.inhrelid = ic.oid
                                           AND h.inhparent = ${parentIndexOid}::oid),
                    'attached_elsewhere', EXISTS (SELECT 1 FROM pg_inherits h
                                         WHERE h.inhrelid = ic.oid
                                           AND h.inhparent <> ${parentIndexOid}::oid))
                  ORDER BY ic.relname), '[]')
             FROM pg_index x JOIN pg_class ic ON ic.oid = x.indexrelid
             JOIN pg_am am ON am.oid = ic.relam
            WHERE x.indrelid = c.oid) AS indexes
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = ${tableOid}::oid
        ORDER BY pg_get_expr(c.relpartbound, 0) = 'DEFAULT', n.nspname, c.relname`,
  );
  const partitions: PartitionFacts[] = partitionRows.map((row) => {
    const indexes = jsonValue<(IndexRow & { attached: boolean; attached_elsewhere: boolean })[]>(
      row.indexes,
    );
    return {
      schema: row.schema,
      name: row.name,
      relkind: row.relkind,
      isDefault: row.is_default === true,
      indexes: (indexes as (IndexRow & { attached: boolean; attached_elsewhere: boolean })[]).map(
        (index): PartitionIndexFacts => ({
          ...indexFacts(index),
          attached: index.attached,
          attachedElsewhere: index.attached_elsewhere,
        }),
      ),
    };
  });

  return {
    table: { partitioned: table.relkind === 'p', partitionKey: table.partition_key ?? [] },
    parentIndex: parentIndex
      ? {
          ...indexFacts(parentIndex),
          relkind: parentIndex.relkind,
          onTable: parentIndex.on_table === true,
          comment: parentIndex.comment ?? null,
          requiredBy: jsonValue<string[] | null>(parentIndex.required_by) ?? [],
        }
      : undefined,
    partitions,
  };
}
