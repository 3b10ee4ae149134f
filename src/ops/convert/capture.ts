import { sql } from 'drizzle-orm';
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

/** Keys of `rowType` read from a JSON array of row images ($1). */
const keysFromImages = (key: readonly string[], rowType: string) =>
  `SELECT DISTINCT ${cols(key, 'k')} FROM jsonb_array_elements($1::jsonb) e ` +
  `CROSS JOIN LATERAL jsonb_populate_record(NULL::${rowType}, e.value) k`;

/**
 * The statements of one replay, with $1 standing for the images (for --dry-run).
 * `remove` deletes destination rows whose key the source no longer has; `upsert` writes the
 * source rows as they are now. Never delete-then-reinsert a row that still exists: the delete
 * would cascade into the referencing table (ON DELETE CASCADE) and take rows that were never
 * logged with it (the cascade trap of docs/postgres-behaviours.md#cascade-on-move, in another form).
 */
export function replaySql(layout: TableLayout, direction: Direction, sides: Sides) {
  const f = flow(layout, direction, sides);
  const both = [...new Set([...f.dstKey, ...f.srcKey])];
  const match = f.dstKey.map((c) => `t.${quoteIdent(c)} = x.${quoteIdent(c)}`);
  const stillThere = both.map((c) => `s.${quoteIdent(c)} = x.${quoteIdent(c)}`);
  const rest = layout.columns.filter((c) => !f.dstKey.includes(c));
  const onConflict =
    rest.length > 0
      ? `DO UPDATE SET ${rest.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ')}`
      : 'DO NOTHING';
  return {
    remove:
      `DELETE FROM ${f.dst} t USING (${keysFromImages(both, f.dst)}) x WHERE ${match.join(' AND ')} ` +
      `AND NOT EXISTS (SELECT 1 FROM ${f.src} s WHERE ${stillThere.join(' AND ')})`,
    upsert:
      `INSERT INTO ${f.dst} (${cols(layout.columns)}) SELECT ${cols(layout.columns, 's')} FROM ${f.src} s ` +
      `WHERE (${cols(f.srcKey, 's')}) IN (${keysFromImages(f.srcKey, f.src)}) ` +
      `ON CONFLICT (${cols(f.dstKey)}) ${onConflict}`,
  };
}

/**
 * Replays up to `limit` logged changes in the caller's transaction: takes them off the log, then
 * per table removes the destination rows the source no longer has under a logged key (referencing
 * tables first) and upserts the source rows as they are now (referenced tables first).
 * Idempotent: replaying a key twice leaves the same rows. Returns how many changes it took and
 * the greatest id among them.
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
  const upTo = range.upTo ?? null;
  const taken = await query<{
    id: string;
    table_name: string;
    old_row: string | null;
    new_row: string | null;
  }>(
    tx,
    sql`DELETE FROM ${sql.raw(changesTable)} WHERE id IN (
          SELECT id FROM ${sql.raw(changesTable)} WHERE family = ${family.name} AND direction = ${direction}
            AND (${after}::bigint IS NULL OR id > ${after}::bigint)
            AND (${upTo}::bigint IS NULL OR id <= ${upTo}::bigint)
          ORDER BY id LIMIT ${limit})
        RETURNING id::text AS id, table_name, old_row::text AS old_row, new_row::text AS new_row`,
  );
  if (taken.length === 0) return { taken: 0, lastId: after };
  const lastId = taken.reduce(
    (m, c) => (BigInt(c.id) > BigInt(m) ? c.id : m),
    taken[0]?.id as string,
  );
  // Each statement below is driven by a few hundred logged keys: index lookups into the big
  // tables. A hash or merge join would read a whole table per batch (and under the swap's lock).
  await tx.execute(
    sql`SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)`,
  );
  const images = new Map<string, { all: string[]; current: string[] }>();
  for (const change of taken) {
    const entry = images.get(change.table_name) ?? { all: [], current: [] };
    if (change.old_row) entry.all.push(change.old_row);
    if (change.new_row) {
      entry.all.push(change.new_row);
      entry.current.push(change.new_row);
    }
    images.set(change.table_name, entry);
  }
  const statements = new Map(layouts.map((l) => [l.name, replaySql(l, direction, sides)]));
  for (const layout of [...layouts].reverse()) {
    const entry = images.get(layout.name);
    if (entry && entry.all.length > 0) {
      await tx.execute(withImages(statements.get(layout.name)?.remove ?? '', entry.all));
    }
  }
  for (const layout of layouts) {
    const entry = images.get(layout.name);
    if (entry && entry.current.length > 0) {
      await tx.execute(withImages(statements.get(layout.name)?.upsert ?? '', entry.current));
    }
  }
  return { taken: taken.length, lastId };
}

/** Binds the images (JSON text, never parsed in JS: bigints stay exact) as $1. */
function withImages(statement: string, images: string[]) {
  const parts = statement.split('$1::jsonb');
  const chunks = [sql.raw(parts[0] ?? '')];
  for (let i = 1; i < parts.length; i++) {
    chunks.push(sql`${`[${images.join(',')}]`}::jsonb`, sql.raw(parts[i] ?? ''));
  }
  return sql.join(chunks, sql.raw(''));
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
