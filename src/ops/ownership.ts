import { sql } from 'drizzle-orm';
import { operationsSetupSql } from '../catalog/operations.js';
import { retiredKeysSetupSql } from '../catalog/retired-keys.js';
import { boundKey, parseBound } from '../define/bounds.js';
import { isManagedComment } from '../define/marker.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query, run } from '../run/execute.js';
import { quoteQualified } from '../sql/identifiers.js';
import {
  OWNERSHIP_ADOPTED,
  type OwnedRole,
  type OwnedTable,
  ownershipSetupSql,
  recordOwnedRowsSql,
} from '../sql/ownership.js';
import { DRAINED_DEFAULT_MARKER, NEXT_DEFAULT_MARKER, STAGING_MARKER } from './drain/state.js';

/** The bookkeeping tables' CREATE TABLE IF NOT EXISTS statements, in one place. */
function bookkeepingSetupSql(schema: string): string[] {
  return [
    ...ownershipSetupSql(schema),
    ...operationsSetupSql(schema),
    ...retiredKeysSetupSql(schema),
  ];
}

/**
 * The key of an attached partition of `table` that the carry-over (ensureOwnership) adopts: it
 * carries the `pgparts:managed` comment and its name is the one pgparts derives for its bound
 * (bound as pg_get_expr prints it in UTC, ISO). Null when it is not adopted.
 */
export function adoptedKey(
  family: FamilySpec,
  table: string,
  partition: { name: string; bound: string; comment: string | null },
): PartitionKey | null {
  if (!isManagedComment(partition.comment)) return null;
  const key = boundKey(parseBound(partition.bound));
  if (!key) return null;
  try {
    return partitionName(family, table, key) === partition.name ? key : null;
  } catch {
    return null;
  }
}

/**
 * Makes sure the family's schema has pgparts's bookkeeping tables (the ownership record, the
 * operations record, the retired keys), all made by the first operation that changes something,
 * so that a later drain or retire makes none of its own on its way; and carries an existing
 * install over once per family (the first pgparts operation that changes something after the
 * upgrade):
 * - an attached partition of a family table is adopted when it carries the `pgparts:managed`
 *   comment AND its name is the name pgparts derives for its bound (`<table>_default` for
 *   DEFAULT): a comment copied onto a hand-made partition under another name adopts nothing;
 * - a standalone table named after a family table that carries a drain's marker (staging, next
 *   DEFAULT, drained DEFAULT) is adopted in that role, so an interrupted drain can resume.
 * From then on the recorded rows alone say what pgparts owns; comments are hints.
 * Returns how many tables were adopted now (0 when the family was carried over before).
 */
export async function ensureOwnership(db: AnyPgDatabase, family: FamilySpec): Promise<number> {
  return db.transaction(async (tx) => {
    for (const statement of bookkeepingSetupSql(family.schema)) await run(tx, statement);
    const [done] = await query<{ n: number }>(
      tx,
      sql`SELECT count(*)::int AS n FROM ${sql.raw(quoteQualified(family.schema, OWNERSHIP_ADOPTED))}
          WHERE family = ${family.name}`,
    );
    if ((done?.n ?? 0) > 0) return 0;
    await tx.execute(
      sql`SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)`,
    );
    const adopted: OwnedTable[] = [];
    for (const table of family.tables) {
      const partitions = await query<{ name: string; bound: string; comment: string | null }>(
        tx,
        sql`SELECT c.relname AS name, pg_get_expr(c.relpartbound, 0) AS bound,
                   obj_description(c.oid, 'pg_class') AS comment
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE i.inhparent = to_regclass(${quoteQualified(family.schema, table)}) AND n.nspname = ${family.schema}`,
      );
      for (const p of partitions) {
        const key = adoptedKey(family, table, p);
        if (!key) continue;
        adopted.push({
          schema: family.schema,
          family: family.name,
          parent: table,
          name: p.name,
          key: keyLabel(key),
          role: 'partition',
        });
      }
      const standalone = await query<{ name: string; comment: string }>(
        tx,
        sql`SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ${family.schema} AND c.relkind = 'r' AND NOT c.relispartition
              AND starts_with(c.relname, ${`${table}_`})
              AND obj_description(c.oid, 'pg_class') IN (${STAGING_MARKER}, ${NEXT_DEFAULT_MARKER}, ${DRAINED_DEFAULT_MARKER})`,
      );
      const roles: Record<string, OwnedRole> = {
        [STAGING_MARKER]: 'staging',
        [NEXT_DEFAULT_MARKER]: 'next-default',
        [DRAINED_DEFAULT_MARKER]: 'drained-default',
      };
      for (const t of standalone) {
        const role = roles[t.comment];
        if (!role) continue;
        adopted.push({
          schema: family.schema,
          family: family.name,
          parent: table,
          name: t.name,
          key: '',
          role,
        });
      }
    }
    // One INSERT for all of them. A standalone table can match two family tables' prefixes
    // (`events_` and `events_notes_`): one row per table, the last match as before (where each
    // match was an upsert of its own).
    const rows = [...new Map(adopted.map((t) => [t.name, t])).values()];
    if (rows.length > 0) await run(tx, recordOwnedRowsSql(rows, 'adopted'));
    await tx.execute(
      sql`INSERT INTO ${sql.raw(quoteQualified(family.schema, OWNERSHIP_ADOPTED))} (family, tables)
          VALUES (${family.name}, ${adopted.length}) ON CONFLICT (family) DO NOTHING`,
    );
    return adopted.length;
  });
}
