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
