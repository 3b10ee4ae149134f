import { sql } from 'drizzle-orm';
import type { AnyPgDatabase } from '../run/database.js';
import { query } from '../run/execute.js';
import { quoteQualified } from '../sql/identifiers.js';

/**
 * Keys pgparts retired (dropped or archived). The catalog reads them and the planner leaves
 * them alone: a season retired by hand is not re-created empty by the next maintenance run, and
 * an archived one can be reattached without colliding with a new, empty partition.
 */
export const RETIRED_KEYS_TABLE = 'pgparts_retired_keys';

export function retiredKeysSetupSql(schema: string): string[] {
  const table = quoteQualified(schema, RETIRED_KEYS_TABLE);
  return [
    `CREATE TABLE IF NOT EXISTS ${table} (
  "family" text NOT NULL,
  "key" text NOT NULL,
  "mode" text NOT NULL,
  "archive_schema" text,
  "retired_at" timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY ("family", "key")
)`,
  ];
}

/** How and when a key was retired, as its record says. */
export interface RetiredKey {
  mode: string;
  archiveSchema: string | null;
  retiredAt: Date;
}

/**
 * The record of the retire of the key labelled `label` (keyLabel) in the family's schema; null
 * when the key is not retired, or no key ever was there (no table).
 */
export async function readRetiredKey(
  db: AnyPgDatabase,
  family: { schema: string; name: string },
  label: string,
): Promise<RetiredKey | null> {
  const table = quoteQualified(family.schema, RETIRED_KEYS_TABLE);
  const [present] = await query<{ present: boolean }>(
    db,
    sql`SELECT to_regclass(${table}) IS NOT NULL AS present`,
  );
  if (!present?.present) return null;
  const [row] = await query<{
    mode: string;
    archive_schema: string | null;
    retired_at: Date | string;
  }>(
    db,
    sql`SELECT mode, archive_schema, retired_at FROM ${sql.raw(table)}
        WHERE family = ${family.name} AND key = ${label}`,
  );
  return row
    ? { mode: row.mode, archiveSchema: row.archive_schema, retiredAt: new Date(row.retired_at) }
    : null;
}
