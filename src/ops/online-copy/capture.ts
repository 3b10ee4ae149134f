import { createHash } from 'node:crypto';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { dollarQuoted, textLiteral } from '../../sql/literals.js';

/**
 * Change capture for online copies, the one machinery behind a drain (DEFAULT -> staging and a
 * rebuilt DEFAULT) and a conversion (legacy <-> partitioned twins): an AFTER ROW trigger on each
 * table copied from logs every insert, update and delete into a log table pgparts made for this
 * one purpose; a replay (replay.ts) then makes the copies equal to what was logged, so a copy
 * made in batches while writers keep writing converges on its source. TRUNCATE is not captured:
 * a statement trigger beside the row trigger refuses it while the capture is on (truncateGuard).
 *
 * One difference is kept, and named: what a log entry holds.
 * - `keys` (a drain's `<schema>.pgparts_changes`): the primary key of the row changed (old and
 *   new key of an update). The copy and its source have the same columns and key, so the replay
 *   reads the current row from the source by that key. A small log on the hot table's writes.
 * - `rows` (a conversion's `pgparts_convert.changes`): the whole old and new row image. The two
 *   sides are addressed by different keys (the legacy id, the partitioned (id, season)), and
 *   after the swap the source is the other side: the replay applies each key's last image and
 *   needs no lookup in a source whose key may not match.
 * Both shapes, names and trigger functions are those of the databases already running them (a
 * drain or a conversion half-done before an upgrade resumes on them): only the code is one.
 */

export type LogShape = 'keys' | 'rows';

export interface ChangeLog {
  shape: LogShape;
  /** The log table, qualified. */
  table: string;
  /** The column naming the table a change was logged on. */
  tableColumn: string;
  /** The trigger function, qualified. */
  function: string;
  /** The operation whose copies it serves, as its errors name it. */
  operation: 'drain' | 'conversion';
  /** The TRUNCATE guard's function, qualified, and what its error says to do. */
  truncateGuard: { function: string; hint: string };
}

/** A drain's log, in the family's schema: keys, one trigger per DEFAULT partition. */
export const CHANGE_LOG_TABLE = 'pgparts_changes';
export const CAPTURE_FUNCTION = 'pgparts_capture_change';
export const CAPTURE_TRIGGER = 'pgparts_capture';
/** The guard's function in the log's schema: refuses a TRUNCATE while a copy is under way. */
const TRUNCATE_GUARD_FUNCTION = 'pgparts_refuse_truncate';

/** A conversion's log, shared by every family: row images, by family and direction. */
export const CONVERT_SCHEMA = 'pgparts_convert';
export const CONVERT_CHANGES_TABLE = 'changes';
export const CONVERT_CAPTURE_FUNCTION = 'capture_change';

export function keyLog(schema: string): ChangeLog {
  return {
    shape: 'keys',
    table: quoteQualified(schema, CHANGE_LOG_TABLE),
    tableColumn: 'source_table',
    function: quoteQualified(schema, CAPTURE_FUNCTION),
    operation: 'drain',
    truncateGuard: {
      function: quoteQualified(schema, TRUNCATE_GUARD_FUNCTION),
      hint:
        'Let the drain finish (pgparts drain, or pgparts apply) or abandon it (pgparts drain ' +
        '--abandon), then truncate.',
    },
  };
}

export const rowLog: ChangeLog = {
  shape: 'rows',
  table: quoteQualified(CONVERT_SCHEMA, CONVERT_CHANGES_TABLE),
  tableColumn: 'table_name',
  function: quoteQualified(CONVERT_SCHEMA, CONVERT_CAPTURE_FUNCTION),
  operation: 'conversion',
  truncateGuard: {
    function: quoteQualified(CONVERT_SCHEMA, TRUNCATE_GUARD_FUNCTION),
    hint:
      'Finish the conversion (pgparts convert <family> ... cleanup) or abandon it (pgparts ' +
      'convert <family> abandon), then truncate.',
  },
};

/**
 * A capture function runs as the role that made it (the one that made the log), not as the
 * writer: an app role that may only write its tables must not lose its writes, for the length of
 * a drain or a conversion, to a permission it lacks on pgparts's log. Its search_path is pinned,
 * and it names every table with its schema. A trigger function cannot be called directly: it
 * logs only what the writer wrote.
 */
const DEFINER = 'SECURITY DEFINER SET search_path = pg_catalog, pg_temp';

/**
 * The keys log and its function, in a family's schema; safe to run again. The function is
 * created where it is missing, and replaced where an earlier release made it without
 * SECURITY DEFINER and the role may replace it (another role may own it: then it stays).
 * TG_ARGV holds the primary key's column names; each key is logged as a JSON object.
 */
export function keyLogSetupSql(schema: string, functionExists: boolean): string[] {
  const log = keyLog(schema);
  return [
    `CREATE TABLE IF NOT EXISTS ${log.table} (
  "id" bigserial PRIMARY KEY,
  "source_table" text NOT NULL,
  "pk" jsonb NOT NULL
)`,
    `COMMENT ON TABLE ${log.table} IS 'pgparts: change log for online copies (drain, convert); rows are removed once replayed'`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`${CHANGE_LOG_TABLE}_source_idx`)} ON ${log.table} ("source_table", "id")`,
    ...(functionExists
      ? []
      : [
          `CREATE OR REPLACE FUNCTION ${log.function}() RETURNS trigger
LANGUAGE plpgsql ${DEFINER} AS ${dollarQuoted(`
DECLARE
  r jsonb;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    r := to_jsonb(OLD);
    INSERT INTO ${log.table} ("source_table", "pk")
      SELECT TG_TABLE_NAME, jsonb_object_agg(c, r -> c) FROM unnest(TG_ARGV) AS c;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    r := to_jsonb(NEW);
    INSERT INTO ${log.table} ("source_table", "pk")
      SELECT TG_TABLE_NAME, jsonb_object_agg(c, r -> c) FROM unnest(TG_ARGV) AS c;
  END IF;
  RETURN NULL;
END
`)}`,
        ]),
  ];
}

/**
 * Whether the keys log's function is in the schema as it should stay: SECURITY DEFINER, or
 * owned by a role this one cannot act as (which alone may replace it).
 */
export function keyLogFunctionExistsSql(schema: string): string {
  return `SELECT count(*) AS n FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ${textLiteral(schema)} AND p.proname = ${textLiteral(CAPTURE_FUNCTION)}
  AND (p.prosecdef OR NOT pg_has_role(p.proowner, 'USAGE'))`;
}

/**
 * The rows log and its function (in pgparts_convert, which the caller creates); safe to run
 * again. TG_ARGV: family, direction, table. to_jsonb prints floats with the writer's
 * extra_float_digits; at 0 or below it rounds, and the replay would write the rounded value.
 * The function pins the setting that prints them exactly, whatever the writer's session says.
 */
export function rowLogSetupSql(): string[] {
  const log = rowLog;
  return [
    `CREATE TABLE IF NOT EXISTS ${log.table} (
  "id" bigserial PRIMARY KEY,
  "family" text NOT NULL,
  "direction" text NOT NULL,
  "table_name" text NOT NULL,
  "old_row" jsonb,
  "new_row" jsonb
)`,
    `CREATE INDEX IF NOT EXISTS "changes_family_direction_id" ON ${log.table} ("family", "direction", "id")`,
    `CREATE OR REPLACE FUNCTION ${log.function}() RETURNS trigger LANGUAGE plpgsql
${DEFINER} SET extra_float_digits = 3 AS ${dollarQuoted(`
BEGIN
  INSERT INTO ${log.table} ("family", "direction", "table_name", "old_row", "new_row")
  VALUES (TG_ARGV[0], TG_ARGV[1], TG_ARGV[2],
          CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
          CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END);
  RETURN NULL;
END
`)}`,
  ];
}

/**
 * The capture trigger on one table: every row written is logged by the log's function, with
 * `args` (string literals: for a keys log the key's column names as the catalog spells them;
 * for a rows log the family, direction and table). Enabled ALWAYS: an ordinary trigger does not
 * fire in a session with session_replication_role = replica (a logical replication apply
 * worker, a bulk load that skips foreign key checks that way), whose writes would go unlogged
 * and never reach the copy (docs/postgres-behaviours.md#replica-role-triggers).
 *
 * Beside it, its TRUNCATE guard (`<trigger>_truncate`, a BEFORE TRUNCATE statement trigger, also
 * ALWAYS; a TRUNCATE of the parent fires it too): a TRUNCATE logs no row, and the copy put in the
 * table's place would bring back every row it took away, so it is refused, with what to do. Its
 * function is made here where missing (a conversion or drain begun by an earlier release has
 * its log but not this function). Statements for one transaction.
 */
export function captureTriggerSql(
  log: ChangeLog,
  trigger: string,
  schema: string,
  table: string,
  args: readonly string[],
): string[] {
  const guard = truncateGuardName(trigger);
  return [
    truncateGuardFunctionSql(log),
    `CREATE OR REPLACE TRIGGER ${quoteIdent(trigger)} AFTER INSERT OR UPDATE OR DELETE ` +
      `ON ${quoteQualified(schema, table)} FOR EACH ROW EXECUTE FUNCTION ${log.function}(${args.map(textLiteral).join(', ')})`,
    setTriggerSql(quoteQualified(schema, table), trigger, 'ENABLE ALWAYS'),
    `CREATE OR REPLACE TRIGGER ${quoteIdent(guard)} BEFORE TRUNCATE ON ${quoteQualified(schema, table)} ` +
      `FOR EACH STATEMENT EXECUTE FUNCTION ${log.truncateGuard.function}()`,
    setTriggerSql(quoteQualified(schema, table), guard, 'ENABLE ALWAYS'),
  ];
}

/** The TRUNCATE guard's trigger beside the capture trigger `trigger`. */
export function truncateGuardName(trigger: string): string {
  return `${trigger}_truncate`;
}

/**
 * The guard's function, created only where it is missing (CREATE OR REPLACE would need to own
 * one another role made). It reads nothing: it raises object_in_use naming the table.
 */
function truncateGuardFunctionSql(log: ChangeLog): string {
  const g = log.truncateGuard;
  const body = `
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'object_in_use',
    MESSAGE = format('pgparts: TRUNCATE of %I.%I refused: a pgparts ${log.operation} is copying it, and the copy put in its place would bring back the rows a TRUNCATE removes; nothing was truncated', TG_TABLE_SCHEMA, TG_TABLE_NAME),
    HINT = ${textLiteral(g.hint)};
END
`;
  const create = `CREATE FUNCTION ${g.function}() RETURNS trigger LANGUAGE plpgsql AS ${dollarQuoted(body)}`;
  return `DO ${dollarQuoted(`
BEGIN
  IF to_regprocedure(${textLiteral(`${g.function}()`)}) IS NULL THEN
    EXECUTE ${textLiteral(create)};
  END IF;
END
`)}`;
}

/**
 * `ALTER TABLE <table> ENABLE ALWAYS | DISABLE TRIGGER <trigger>` (`table` qualified). ENABLE
 * ALWAYS: the trigger fires whatever session_replication_role says. DISABLE, for a capture,
 * inside a transaction that already blocks the table's writers (SHARE ROW EXCLUSIVE, which
 * readers pass): what that transaction deletes itself is not logged.
 */
export function setTriggerSql(
  table: string,
  trigger: string,
  state: 'ENABLE ALWAYS' | 'DISABLE',
): string {
  return `ALTER TABLE ${table} ${state} TRIGGER ${quoteIdent(trigger)}`;
}

/** Deletes what `log` holds of the writes to `table` (their capture is over or given up). */
export function clearLogSql(log: ChangeLog, table: string): string {
  return `DELETE FROM ${log.table} WHERE ${log.tableColumn} = ${textLiteral(table)}`;
}

/**
 * Checked under the lock that ends an online copy (a drain's final phase, a conversion's swap),
 * once nobody else can change the table's triggers: the capture trigger on `table` is still on,
 * enabled ALWAYS. A session that disabled it meanwhile (`ALTER TABLE ... DISABLE TRIGGER ALL`, as
 * a data-only pg_restore does around its COPY) wrote unlogged rows, and one that enabled it again
 * left it enabled the ordinary way. Either fails the statement (serialization_failure: a failure a
 * later run need not meet), so the transaction changes nothing. A statement that raises, not a
 * read: it goes out with the locks, no round trip of its own while they are held.
 */
export function captureStillOnSql(check: {
  log: ChangeLog;
  schema: string;
  table: string;
  trigger: string;
  /** What the missing rows would mean, after "... while the <operation> copied": */
  consequence: string;
  /** An earlier pgparts release may have made the trigger (enabled the ordinary way). */
  earlierRelease?: boolean;
  hint: string;
}): string {
  const { schema, table } = check;
  return `DO ${dollarQuoted(`
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = ${textLiteral(quoteQualified(schema, table))}::regclass
                   AND tgname = ${textLiteral(check.trigger)} AND tgenabled = 'A') THEN
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
      MESSAGE = ${textLiteral(
        `the capture trigger ${check.trigger} on ${schema}.${table} is not enabled ALWAYS: another session disabled it while the ${check.log.operation} copied (ALTER TABLE ... DISABLE TRIGGER, perhaps enabled again since)${check.earlierRelease ? ', or an earlier pgparts release made it' : ''}: ${check.consequence}`,
      )},
      HINT = ${textLiteral(check.hint)};
  END IF;
END
`)}`;
}

/** Drops the capture trigger and its TRUNCATE guard (either may be missing). */
export function dropCaptureTriggerSql(trigger: string, schema: string, table: string): string[] {
  return [trigger, truncateGuardName(trigger)].map(
    (name) => `DROP TRIGGER IF EXISTS ${quoteIdent(name)} ON ${quoteQualified(schema, table)}`,
  );
}

/**
 * A drain's staging tables carry keys before its final phase, so that ATTACH adopts them without
 * a scan under its lock: a swap's, the keys to tables outside the family (`orders.customer_id ->
 * customers`); a delete's with triggers skipped, every key, the family's own included.
 * A key's checks fire on the referenced side whatever the copy holds
 * (docs/postgres-behaviours.md#key-checks-copies): an order the app deleted from DEFAULT still
 * has its copy until the next replay, and deleting its customer then failed (23503 on the
 * staging table). From before those keys are added, this trigger on each DEFAULT
 * partition removes the old row's copies in the writer's own transaction (an UPDATE's too: it
 * may change what the row references); the capture has logged the key, and the replay writes
 * back the row DEFAULT holds. Each copy removed is logged too (removedMarker), so the drain
 * still knows how many rows it moves without counting under its locks. Fired the ordinary way:
 * a replica-role session checks no keys. It costs the app's deletes and updates in DEFAULT, in
 * that window only, about 13-16 µs a row.
 */
export const REMOVE_COPIES_TRIGGER = 'pgparts_remove_copies';

/** The keys log's table column for the copies of `copy` (qualified) the trigger removed. */
export function removedMarker(copy: string): string {
  return `removed from ${copy}`;
}

/**
 * The function a removal trigger runs: one per table and use, named by a hash (any length of
 * name fits), because its statements name the copies and the key as written, which lets
 * PL/pgSQL keep their plans: about 13 µs a row deleted from DEFAULT with two copies, where one
 * function building each statement at run time took over 40 µs.
 */
export function removalFunctionName(schema: string, ...parts: string[]): string {
  const hash = createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);
  return quoteQualified(schema, `${REMOVE_COPIES_TRIGGER}_${hash}`);
}

/** A drain's, for a DEFAULT partition. */
export function removeCopiesFunction(schema: string, table: string): string {
  return removalFunctionName(schema, table);
}

/**
 * A removal trigger: on `table` (qualified), AFTER DELETE (and UPDATE, where `onUpdate`), FOR
 * EACH ROW, run by `function` (SECURITY DEFINER: the writer needs no privilege on the copies or
 * the log), which runs `deletes` in order: each removes rows of a copy (qualified) matching a
 * condition on OLD. The replay writes back what the source then holds: the log has the change.
 * The function names its copies as written, so every path that drops or moves a copy drops the
 * trigger first, in the same transaction. Statements for one transaction.
 */
export interface CopyRemoval {
  trigger: string;
  function: string;
  table: string;
  deletes: readonly { copy: string; where: string }[];
  /** Updates fire it too and run the deletes (the copy's rows may name what the row no longer does). */
  onUpdate: boolean;
  /**
   * Instead (where `onUpdate` is false): an update that sets any of these columns fires it, and
   * each copy row matching `where` takes NEW's values of `columns` where they changed. Where a
   * constraint of the copy refuses them (the copy is not current: a unique key may clash with a
   * row the replay has yet to change), the row stays as it was, and the app's update goes on.
   */
  updates?: readonly CopyUpdate[];
  /** Each copy row removed is recorded in this log (removedMarker): a drain counts with it. */
  recordIn?: ChangeLog;
}

export interface CopyUpdate {
  copy: string;
  where: string;
  columns: readonly string[];
}

/** `(a, b) = (OLD.a, OLD.b)`: the rows of a copy whose columns `columns` equal OLD's `old`. */
export function matchesOld(columns: readonly string[], old: readonly string[] = columns): string {
  return `(${columns.map((c) => quoteIdent(c)).join(', ')}) = (${old.map((c) => `OLD.${quoteIdent(c)}`).join(', ')})`;
}

export function copyRemovalSql(r: CopyRemoval): string[] {
  const log = r.recordIn;
  const removals = r.deletes.map(({ copy, where }) =>
    log
      ? `
  DELETE FROM ${copy} WHERE ${where};
  GET DIAGNOSTICS removed = ROW_COUNT;
  IF removed > 0 THEN
    INSERT INTO ${log.table} (${quoteIdent(log.tableColumn)}, "pk") VALUES (${textLiteral(removedMarker(copy))}, '{}');
  END IF;`
      : `
  DELETE FROM ${copy} WHERE ${where};`,
  );
  const updates = r.onUpdate ? [] : (r.updates ?? []);
  const updated = [...new Set(updates.flatMap((u) => u.columns))];
  // A subtransaction each (the EXCEPTION block), on this rare path only: an update that changed
  // what the row references.
  const onUpdate = updates.map(({ copy, where, columns }) => {
    const list = (prefix: string) => columns.map((c) => `${prefix}${quoteIdent(c)}`).join(', ');
    return `
    IF (${list('NEW.')}) IS DISTINCT FROM (${list('OLD.')}) THEN
      BEGIN
        UPDATE ${copy} SET ${columns.map((c) => `${quoteIdent(c)} = NEW.${quoteIdent(c)}`).join(', ')} WHERE ${where};
      EXCEPTION WHEN integrity_constraint_violation THEN NULL;
      END;
    END IF;`;
  });
  const events = r.onUpdate
    ? 'UPDATE OR DELETE'
    : updated.length > 0
      ? `UPDATE OF ${updated.map((c) => quoteIdent(c)).join(', ')} OR DELETE`
      : 'DELETE';
  const updateBranch =
    onUpdate.length > 0
      ? `
  IF TG_OP = 'UPDATE' THEN${onUpdate.join('')}
    RETURN NULL;
  END IF;`
      : '';
  return [
    `CREATE OR REPLACE FUNCTION ${r.function}() RETURNS trigger LANGUAGE plpgsql ${DEFINER} AS ${dollarQuoted(`
DECLARE
  removed bigint;
BEGIN${updateBranch}${removals.join('')}
  RETURN NULL;
END
`)}`,
    `CREATE OR REPLACE TRIGGER ${quoteIdent(r.trigger)} AFTER ${events} ` +
      `ON ${r.table} FOR EACH ROW EXECUTE FUNCTION ${r.function}()`,
  ];
}

/** Drops a removal trigger on `table` (qualified) and its function (either may be missing). */
export function dropCopyRemovalSql(trigger: string, table: string, fn: string): string[] {
  return [
    `DROP TRIGGER IF EXISTS ${quoteIdent(trigger)} ON ${table}`,
    `DROP FUNCTION IF EXISTS ${fn}()`,
  ];
}

/**
 * A drain's, on a DEFAULT partition: every update fires it too (the log has the key, the replay
 * restores the row, and no key between the copies is there before the final phase), and each
 * copy removed is recorded in the family's keys log.
 */
export function removeCopiesTriggerSql(
  schema: string,
  table: string,
  keyColumns: readonly string[],
  copies: readonly string[],
): string[] {
  return copyRemovalSql({
    trigger: REMOVE_COPIES_TRIGGER,
    function: removeCopiesFunction(schema, table),
    table: quoteQualified(schema, table),
    deletes: copies.map((copy) => ({ copy, where: matchesOld(keyColumns) })),
    onUpdate: true,
    recordIn: keyLog(schema),
  });
}

/** Drops a drain's removal trigger and its function (either may be missing). */
export function dropRemoveCopiesSql(schema: string, table: string): string[] {
  return dropCopyRemovalSql(
    REMOVE_COPIES_TRIGGER,
    quoteQualified(schema, table),
    removeCopiesFunction(schema, table),
  );
}

/** Deletes the log's records of copies removed from `copies` (qualified). */
export function clearRemovedSql(log: ChangeLog, copies: readonly string[]): string {
  return `DELETE FROM ${log.table} WHERE ${log.tableColumn} IN (${copies.map((c) => textLiteral(removedMarker(c))).join(', ')})`;
}
