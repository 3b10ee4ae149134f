import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { integerLiteral, textLiteral } from '../../sql/literals.js';

/**
 * Change capture for online copies: a row trigger on the table being copied from records the
 * primary key of every row inserted, updated (old and new key) or deleted, into a log table that
 * pgparts creates for this one purpose. Replaying the log re-copies exactly those rows, so a copy
 * made in batches while writers keep writing converges on the source. TRUNCATE is not captured.
 */

export const CHANGE_LOG_TABLE = 'pgparts_changes';
export const CAPTURE_FUNCTION = 'pgparts_capture_change';
export const CAPTURE_TRIGGER = 'pgparts_capture';

/**
 * The log table and the trigger function, in the family's schema; safe to run again. The
 * function is created only where it is missing (another role may own it).
 */
export function changeCaptureSetupSql(schema: string, functionExists: boolean): string[] {
  const log = quoteQualified(schema, CHANGE_LOG_TABLE);
  return [
    `CREATE TABLE IF NOT EXISTS ${log} (
  "id" bigserial PRIMARY KEY,
  "source_table" text NOT NULL,
  "pk" jsonb NOT NULL
)`,
    `COMMENT ON TABLE ${log} IS 'pgparts: change log for online copies (drain, convert); rows are removed once replayed'`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${CHANGE_LOG_TABLE}_source_idx`)} ON ${log} ("source_table", "id")`,
    // TG_ARGV holds the primary key's column names; the key is logged as a JSON object.
    ...(functionExists ? [] : [captureFunctionSql(schema, log)]),
  ];
}

function captureFunctionSql(schema: string, log: string): string {
  return `CREATE OR REPLACE FUNCTION ${quoteQualified(schema, CAPTURE_FUNCTION)}() RETURNS trigger
LANGUAGE plpgsql AS $pgparts$
DECLARE
  r jsonb;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    r := to_jsonb(OLD);
    INSERT INTO ${log} ("source_table", "pk")
      SELECT TG_TABLE_NAME, jsonb_object_agg(c, r -> c) FROM unnest(TG_ARGV) AS c;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    r := to_jsonb(NEW);
    INSERT INTO ${log} ("source_table", "pk")
      SELECT TG_TABLE_NAME, jsonb_object_agg(c, r -> c) FROM unnest(TG_ARGV) AS c;
  END IF;
  RETURN NULL;
END
$pgparts$`;
}

/** Whether the capture function exists in the schema. */
export function captureFunctionExistsSql(schema: string): string {
  return `SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ${textLiteral(schema)} AND p.proname = ${textLiteral(CAPTURE_FUNCTION)}`;
}

/** The trigger on one source table, given its primary key columns. */
export function captureTriggerSql(schema: string, table: string, pkColumns: string[]): string {
  // Trigger arguments are string literals: the column names as the catalog spells them.
  const args = pkColumns.map((c) => textLiteral(c)).join(', ');
  return `CREATE TRIGGER ${quoteIdent(CAPTURE_TRIGGER)} AFTER INSERT OR UPDATE OR DELETE ON ${quoteQualified(schema, table)}
FOR EACH ROW EXECUTE FUNCTION ${quoteQualified(schema, CAPTURE_FUNCTION)}(${args})`;
}

export function dropCaptureTriggerSql(schema: string, table: string): string {
  return `DROP TRIGGER IF EXISTS ${quoteIdent(CAPTURE_TRIGGER)} ON ${quoteQualified(schema, table)}`;
}

export interface ReplayTarget {
  schema: string;
  /** The table whose changes were logged (the source). */
  source: string;
  /** The parent whose row type decodes the logged keys. */
  rowType: string;
  columns: string[];
  pkColumns: string[];
  /**
   * The tables kept equal to the source's rows, each to those matching its filter (a condition
   * on alias "d"): a drain's staging table (the key's rows), and for a swap the rebuilt DEFAULT
   * (every other row).
   */
  targets: { table: string; sourceFilter: string }[];
}

/** The temporary table that pins one batch of log entries for a replay transaction. */
export const REPLAY_BATCH_TABLE = 'pgparts_replay_batch';

/** One replay batch: pin, then per target a delete and an insert (each returns `n`), forget. */
export interface ReplayStatements {
  pin: string;
  targets: { table: string; deleted: string; inserted: string }[];
  forget: string;
}

/**
 * The statements that replay one batch of logged changes, in one transaction:
 * 1. pin the batch: the oldest `limit` entries visible now, into a temporary table;
 * 2. per target, delete those keys from it, then copy their current version from the source
 *    where its filter holds (a row whose key moved it between targets lands in the right one);
 * 3. forget exactly the pinned entries.
 * Each statement takes its own snapshot (READ COMMITTED); pinning the ids first is what makes
 * "forget" drop only entries whose change step 2 has certainly seen: an entry whose writer
 * commits later stays in the log, whatever its id. Deletes and inserts report their row counts,
 * so a drain knows how many rows its staging table holds without counting it.
 */
export function replaySql(t: ReplayTarget, limit: number): ReplayStatements {
  const log = quoteQualified(t.schema, CHANGE_LOG_TABLE);
  const batch = quoteIdent(REPLAY_BATCH_TABLE);
  const pk = t.pkColumns.map(quoteIdent);
  // The logged keys decoded into typed columns with the parent's row type: plain equalities on
  // them let the planner use the primary key indexes of the target and the source.
  const keys = `(SELECT DISTINCT ${pk.map((c) => `r.${c}`).join(', ')}
    FROM ${batch} AS k, jsonb_populate_record(NULL::${quoteQualified(t.schema, t.rowType)}, k."pk") AS r) AS r`;
  const match = (alias: string) => pk.map((c) => `${alias}.${c} = r.${c}`).join(' AND ');
  const cols = t.columns.map(quoteIdent).join(', ');
  return {
    pin: `CREATE TEMPORARY TABLE ${batch} ON COMMIT DROP AS
SELECT "id", "pk" FROM ${log} WHERE "source_table" = ${textLiteral(t.source)} ORDER BY "id" LIMIT ${integerLiteral(limit)}`,
    targets: t.targets.map((target) => {
      const table = quoteQualified(t.schema, target.table);
      return {
        table: target.table,
        deleted: `WITH gone AS (DELETE FROM ${table} AS s USING ${keys} WHERE ${match('s')} RETURNING 1)
SELECT count(*) AS n FROM gone`,
        inserted: `WITH copied AS (INSERT INTO ${table} (${cols})
SELECT ${t.columns.map((c) => `d.${quoteIdent(c)}`).join(', ')}
FROM ${quoteQualified(t.schema, t.source)} AS d, ${keys}
WHERE ${match('d')} AND ${target.sourceFilter}
ON CONFLICT DO NOTHING RETURNING 1)
SELECT count(*) AS n FROM copied`,
      };
    }),
    forget: `DELETE FROM ${log} WHERE "id" IN (SELECT "id" FROM ${batch})`,
  };
}
