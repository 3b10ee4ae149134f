import { type SQL, sql } from 'drizzle-orm';
import type { FamilySpec } from '../../define/spec.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { textLiteral } from '../../sql/literals.js';
import { cols, type TableLayout } from './layout.js';
import { captureTrigger, type Direction, type Sides } from './names.js';
import { query } from './run-sql.js';
import { captureFunction, changesTable } from './state.js';

/**
 * Change capture. While the fill runs, AFTER ROW triggers on the legacy tables record every
 * insert, update and delete (the whole old and new row) in pgparts_convert.changes; the replay
 * then makes the twin's rows for those keys equal to the legacy rows as they are now. After the
 * swap the same triggers run the other way, on the partitioned tables, so an unswap loses nothing.
 *
 * pgslice's approach (copy, then copy again whatever has a higher id) assumes append-only tables:
 * it never sees an update or a delete of a row it already copied, nor an insert with an explicit
 * lower id. The leaderboard rewrites ranks and deletes runs, so every change has to be captured.
 */

export function captureTriggerSql(
  family: FamilySpec,
  schema: string,
  table: string,
  direction: Direction,
): string {
  const args = [family.name, direction, table].map(textLiteral).join(', ');
  return (
    `CREATE OR REPLACE TRIGGER ${captureTrigger(direction)} AFTER INSERT OR UPDATE OR DELETE ` +
    `ON ${quoteQualified(schema, table)} FOR EACH ROW EXECUTE FUNCTION ${captureFunction}(${args})`
  );
}

export function dropCaptureTriggerSql(schema: string, table: string, direction: Direction): string {
  return `DROP TRIGGER IF EXISTS ${captureTrigger(direction)} ON ${quoteQualified(schema, table)}`;
}

/** Where rows flow in each direction, and by which key each side is addressed. */
function flow(layout: TableLayout, direction: Direction, sides: Sides) {
  return direction === 'forward'
    ? {
        src: quoteQualified(sides.legacy, layout.name),
        srcKey: layout.legacyKey,
        dst: quoteQualified(sides.partitioned, layout.name),
        dstKey: layout.partitionedKey,
      }
    : {
        src: quoteQualified(sides.partitioned, layout.name),
        srcKey: layout.partitionedKey,
        dst: quoteQualified(sides.legacy, layout.name),
        dstKey: layout.legacyKey,
      };
}

/**
 * A statement whose values are bound at run time: text chunks, and the 1-based numbers of the
 * parameters between them. Built before it runs: the dry run prints it with $n placeholders.
 */
export type Template = readonly (string | number)[];

/** The statement as --dry-run shows it. */
export function templateText(template: Template): string {
  return template.map((c) => (typeof c === 'number' ? `$${c}` : c)).join('');
}

function bind(template: Template, values: readonly unknown[]): SQL {
  return sql.join(
    template.map((c) => (typeof c === 'number' ? sql`${values[c - 1]}` : sql.raw(c))),
    sql.raw(''),
  );
}

/** The meaning of the replay's parameters, for --dry-run. */
export const REPLAY_PARAMETERS =
  '$1 family, $2 direction, $3 after id (exclusive, NULL: from the start), $4 up to id (inclusive, ' +
  'NULL: to the end), $5 batch size, $6.. the table names';

/**
 * One replay batch as ONE statement, run on the server (no row image leaves it): take up to $5
 * changes off the log in id order, then per table keep the last change of each destination key
 * (the latest log id; within one update, the new image over the old) and apply it: DELETE ...
 * USING for keys whose last change removed them, INSERT ... ON CONFLICT DO UPDATE of the last
 * image for the others. An update that moves a row to another key is a removal of the old key
 * and an image of the new. Per key, log order is commit order: a second change of a row waits
 * for the first one's transaction (row lock or unique index) before its trigger logs it.
 *
 * One statement, so the changes taken and the rows written commit or fail together and read one
 * snapshot; each key gets one action, so no row is touched twice, and no row that still exists
 * is deleted and inserted again (the delete would cascade into the referencing table and take
 * rows that were never logged with it: the cascade trap of docs/postgres-behaviours.md#cascade-on-move,
 * in another form). Foreign keys between the twins are checked at the statement's end, when
 * every table's part is applied, so the order of the parts does not matter.
 */
export function replaySql(
  layouts: readonly TableLayout[],
  direction: Direction,
  sides: Sides,
): Template {
  const parts: Template[] = [
    [
      `WITH taken AS (DELETE FROM ${changesTable} WHERE id IN (SELECT id FROM ${changesTable} ` +
        'WHERE family = ',
      1,
      '::text AND direction = ',
      2,
      '::text AND (',
      3,
      '::bigint IS NULL OR id > ',
      3,
      '::bigint) AND (',
      4,
      '::bigint IS NULL OR id <= ',
      4,
      '::bigint) ORDER BY id LIMIT ',
      5,
      '::int) RETURNING id, table_name, old_row, new_row)',
    ],
  ];
  layouts.forEach((layout, i) => {
    const f = flow(layout, direction, sides);
    const last = quoteIdent(`last_${i}`);
    const key = f.dstKey.map((c) => `k.${quoteIdent(c)}`).join(', ');
    const match = f.dstKey.map((c) => `t.${quoteIdent(c)} = (x.r).${quoteIdent(c)}`);
    const rest = layout.columns.filter((c) => !f.dstKey.includes(c));
    const onConflict =
      rest.length > 0
        ? `DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`
        : 'DO NOTHING';
    parts.push([
      `, ${last} AS (SELECT DISTINCT ON (${key}) e.live, k AS r FROM taken c ` +
        'CROSS JOIN LATERAL (VALUES (0, c.old_row, false), (1, c.new_row, true)) e(side, image, live) ' +
        `CROSS JOIN LATERAL jsonb_populate_record(NULL::${f.dst}, e.image) k ` +
        'WHERE c.table_name = ',
      6 + i,
      `::text AND e.image IS NOT NULL ORDER BY ${key}, c.id DESC, e.side DESC)`,
      `, ${quoteIdent(`removed_${i}`)} AS (DELETE FROM ${f.dst} t USING ${last} x ` +
        `WHERE NOT x.live AND ${match.join(' AND ')})`,
      `, ${quoteIdent(`written_${i}`)} AS (INSERT INTO ${f.dst} (${cols(layout.columns)}) ` +
        `SELECT ${layout.columns.map((c) => `(x.r).${quoteIdent(c)}`).join(', ')} FROM ${last} x ` +
        `WHERE x.live ON CONFLICT (${cols(f.dstKey)}) ${onConflict})`,
    ]);
  });
  parts.push([' SELECT count(*)::int AS taken, max(id)::text AS last_id FROM taken']);
  return parts.flat();
}

/**
 * Replays up to `limit` logged changes in the caller's transaction, in one statement (replaySql).
 * Idempotent: replaying a key's last image twice leaves the same row. Returns how many changes
 * it took and the greatest id among them.
 */
export async function replayBatch(
  tx: AnyPgDatabase,
  family: FamilySpec,
  layouts: readonly TableLayout[],
  direction: Direction,
  sides: Sides,
  limit: number,
  /**
   * Only changes after `after` (the last id the previous batch of a catch-up took: the index
   * scan then starts there instead of stepping over every entry the batches before deleted,
   * which no vacuum has removed yet) and up to `upTo` (the end of the log when it began).
   */
  range: { after?: string | null; upTo?: string | null } = {},
): Promise<{ taken: number; lastId: string | null }> {
  const after = range.after ?? null;
  // The removals join a batch's keys to the big tables: index lookups. A hash or merge join
  // would read a whole table per batch (and under the swap's lock).
  await tx.execute(
    sql`SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`,
  );
  const rows = await query<{ taken: number; last_id: string | null }>(
    tx,
    bind(replaySql(layouts, direction, sides), [
      family.name,
      direction,
      after,
      range.upTo ?? null,
      limit,
      ...layouts.map((l) => l.name),
    ]),
  );
  const taken = Number(rows[0]?.taken ?? 0);
  return { taken, lastId: taken > 0 ? (rows[0]?.last_id ?? after) : after };
}

/** Changes waiting to be replayed in one direction. */
export async function pendingChanges(
  db: AnyPgDatabase,
  family: FamilySpec,
  direction: Direction,
): Promise<number> {
  const rows = await query<{ n: string }>(
    db,
    sql`SELECT count(*)::text AS n FROM ${sql.raw(changesTable)}
        WHERE family = ${family.name} AND direction = ${direction}`,
  );
  return Number(rows[0]?.n ?? 0);
}
