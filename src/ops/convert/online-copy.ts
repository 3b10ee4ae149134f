import { sql } from 'drizzle-orm';
import { type ForeignKey, getTableConfig } from 'drizzle-orm/pg-core';
import type { FamilySpec } from '../../define/spec.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import {
  CONVERT_SCHEMA,
  type CopyUpdate,
  captureStillOnSql,
  captureTriggerSql,
  copyRemovalSql,
  dropCaptureTriggerSql,
  dropCopyRemovalSql,
  matchesOld,
  removalFunctionName,
  rowLog,
} from '../online-copy/capture.js';
import { type ReplayBatch, replayBatch, replaySql, type Template } from '../online-copy/replay.js';
import type { TableLayout } from './layout.js';
import { captureTrigger, type Direction, removalTrigger, type Sides } from './names.js';
import { query } from './run-sql.js';

/**
 * The conversion's use of the online-copy machinery (src/ops/online-copy): while the fill runs,
 * the capture triggers on the legacy tables log every change (whole old and new rows, the `rows`
 * log) in pgparts_convert.changes, and the replay makes the twins' rows for those keys equal to
 * the legacy rows as they are now. After the swap the same triggers run the other way, on the
 * partitioned tables, so an unswap loses nothing. What is the conversion's own: the trigger's
 * arguments (family, direction, table), which side is source and which target per direction,
 * and the replay's parameters.
 *
 * pgslice's approach (copy, then copy again whatever has a higher id) assumes append-only tables:
 * it never sees an update or a delete of a row it already copied, nor an insert with an explicit
 * lower id. The leaderboard rewrites ranks and deletes runs, so every change has to be captured.
 */

export function conversionTriggerSql(
  family: FamilySpec,
  schema: string,
  table: string,
  direction: Direction,
): string[] {
  return captureTriggerSql(rowLog, captureTrigger(direction), schema, table, [
    family.name,
    direction,
    table,
  ]);
}

/**
 * The check, under the lock of a swap or an unswap, that the capture feeding the side about to
 * take over stayed on (captureStillOnSql): the fill's on the legacy tables before a swap, the
 * one on the partitioned tables since the swap before an unswap. Otherwise that side may lack
 * changes, and nothing is switched.
 */
export function captureStillOnForSwitchSql(
  family: FamilySpec,
  table: string,
  direction: Direction,
): string {
  const takingOver = direction === 'forward' ? 'the twin' : 'the legacy table';
  return captureStillOnSql({
    log: rowLog,
    schema: family.schema,
    table,
    trigger: captureTrigger(direction),
    earlierRelease: true,
    consequence: `${takingOver} may lack changes made meanwhile; nothing was switched`,
    hint:
      direction === 'forward'
        ? `If fill ran under an earlier pgparts release, run fill again (it enables the capture ALWAYS), then swap. Otherwise compare the two sides with pgparts convert ${family.name} verify; to start over, pgparts convert ${family.name} abandon, then prep, backfill and fill again.`
        : `If the swap ran under an earlier pgparts release and nothing disabled the trigger since, ALTER TABLE ${quoteQualified(family.schema, table)} ENABLE ALWAYS TRIGGER ${quoteIdent(captureTrigger(direction))}, then unswap. Otherwise compare the two sides with pgparts convert ${family.name} verify; the partitioned tables stay in place.`,
  });
}

/**
 * The other side holds copies the replay brings up to date later, and its keys to tables outside
 * the family check the app's deletes there against them (docs/postgres-behaviours.md#key-checks-copies):
 * deleting the runs of a dungeon and then the dungeon failed on the twins' (or, after the swap,
 * the legacy tables') copies of those runs until the next replay, for as long as the conversion
 * lasted. Where any table's copy has such keys, a removal trigger beside each table's capture
 * deletes a deleted row's copy in the app's own transaction, and first the copies of the rows
 * that referenced it (a run's members: deleted on the app's side already, or by its cascade,
 * whose own triggers fire only after the run's); the log has every one of those changes, and the
 * replay writes back what the app's side then holds. An update that points a row at another
 * referenced row (orders moved to another customer before the old one is deleted) sets the same
 * columns on the row's copy (copyUpdates). The keys are the declared ones: the twins carry them,
 * and the legacy tables are expected to.
 */
export function conversionRemovalSql(
  family: FamilySpec,
  layouts: readonly TableLayout[],
  direction: Direction,
  sides: Sides,
): string[] {
  const keys = (layout: TableLayout) => getTableConfig(layout.drizzle).foreignKeys;
  const referenced = (fk: ForeignKey) => getTableConfig(fk.reference().foreignTable).name;
  if (!layouts.some((l) => keys(l).some((fk) => !family.tables.includes(referenced(fk)))))
    return [];
  const copyOf = (layout: TableLayout) => destination(layout, direction, sides).table;
  const columnList = (columns: readonly { name: string }[]) =>
    columns.map((c) => quoteIdent(c.name)).join(', ');
  /** The copies of rows referencing `parent`'s rows matching `where`, deepest first. */
  const dependents = (
    parent: TableLayout,
    where: (child: TableLayout, fk: ForeignKey) => string,
    seen: ReadonlySet<string>,
  ): { copy: string; where: string }[] =>
    layouts.flatMap((child) => {
      if (seen.has(child.name)) return [];
      return keys(child)
        .filter((fk) => referenced(fk) === parent.name)
        .flatMap((fk) => {
          const condition = where(child, fk);
          // A grandchild's copies: those referencing the child's copies removed here.
          const throughChild = (_grandchild: TableLayout, k: ForeignKey) =>
            `(${columnList(k.reference().columns)}) IN (SELECT ${columnList(k.reference().foreignColumns)} FROM ${copyOf(child)} WHERE ${condition})`;
          return [
            ...dependents(child, throughChild, new Set([...seen, child.name])),
            { copy: copyOf(child), where: condition },
          ];
        });
    });
  return layouts.flatMap((layout) => {
    const source = direction === 'forward' ? sides.legacy : sides.partitioned;
    const self = matchesOld(destination(layout, direction, sides).key);
    return copyRemovalSql({
      trigger: removalTrigger(direction),
      function: removalFunction(family, layout.name, direction),
      table: quoteQualified(source, layout.name),
      deletes: [
        ...dependents(
          layout,
          (_child, fk) =>
            matchesOld(
              fk.reference().columns.map((c) => c.name),
              fk.reference().foreignColumns.map((c) => c.name),
            ),
          new Set([layout.name]),
        ),
        { copy: copyOf(layout), where: self },
      ],
      onUpdate: false,
      updates: copyUpdates(family, layouts, layout, copyOf(layout), self),
    });
  });
}

/**
 * What an update of `layout`'s row sets on its copy: the columns of each key to a table outside
 * the family, so that the copy references what the row does. Not a key whose columns the copy is
 * addressed or partitioned by, or that a key inside the family uses (changing those would move
 * the copy, or break a family key the replay has not caught up with): an update of those still
 * waits for the replay before the old referenced row can go.
 */
function copyUpdates(
  family: FamilySpec,
  layouts: readonly TableLayout[],
  layout: TableLayout,
  copy: string,
  where: string,
): CopyUpdate[] {
  const config = getTableConfig(layout.drizzle);
  const inFamily = (fk: ForeignKey) =>
    family.tables.includes(getTableConfig(fk.reference().foreignTable).name);
  const fixed = new Set([
    ...layout.legacyKey,
    ...layout.partitionedKey,
    ...config.foreignKeys
      .filter(inFamily)
      .flatMap((fk) => fk.reference().columns.map((c) => c.name)),
    ...layouts.flatMap((other) =>
      getTableConfig(other.drizzle)
        .foreignKeys.filter(
          (fk) => getTableConfig(fk.reference().foreignTable).name === layout.name,
        )
        .flatMap((fk) => fk.reference().foreignColumns.map((c) => c.name)),
    ),
  ]);
  return config.foreignKeys
    .filter((fk) => !inFamily(fk))
    .map((fk) => fk.reference().columns.map((c) => c.name))
    .filter((columns) => columns.every((c) => !fixed.has(c) && layout.columns.includes(c)))
    .map((columns) => ({ copy, where, columns }));
}

/** Its function, in pgparts_convert: one per family, table and direction. */
function removalFunction(family: FamilySpec, table: string, direction: Direction): string {
  return removalFunctionName(CONVERT_SCHEMA, family.name, table, direction);
}

/** Drops the capture of `table` (qualified by `schema`) in `direction`, and its removal trigger. */
export function dropConversionTriggerSql(
  family: FamilySpec,
  schema: string,
  table: string,
  direction: Direction,
): string[] {
  return [
    ...dropCaptureTriggerSql(captureTrigger(direction), schema, table),
    ...dropCopyRemovalSql(
      removalTrigger(direction),
      quoteQualified(schema, table),
      removalFunction(family, table, direction),
    ),
  ];
}

/** The side rows flow into in each direction, and the key it is addressed by. */
function destination(layout: TableLayout, direction: Direction, sides: Sides) {
  return direction === 'forward'
    ? { table: quoteQualified(sides.partitioned, layout.name), key: layout.partitionedKey }
    : { table: quoteQualified(sides.legacy, layout.name), key: layout.legacyKey };
}

/** The meaning of the replay's parameters, for --dry-run. */
export const REPLAY_PARAMETERS =
  '$1 family, $2 direction, $3 after id (exclusive, NULL: from the start), $4 up to id (inclusive, ' +
  'NULL: to the end), $5 batch size, $6.. the table names';

/**
 * One replay batch of the family's tables in one direction (online-copy/replay.ts): each
 * destination key gets its last logged image. An update that moves a row to another key is a
 * removal of the old key and an image of the new.
 */
export function conversionReplaySql(
  layouts: readonly TableLayout[],
  direction: Direction,
  sides: Sides,
): Template {
  return replaySql({
    log: rowLog,
    scope: [
      ['family', 1],
      ['direction', 2],
    ],
    range: { after: 3, upTo: 4 },
    limit: 5,
    flows: layouts.map((layout, i) => {
      const to = destination(layout, direction, sides);
      return {
        logged: 6 + i,
        current: { image: to.table },
        key: to.key,
        columns: layout.columns,
        targets: [{ table: to.table }],
      };
    }),
  });
}

/**
 * Replays up to `limit` logged changes in the caller's transaction, in one statement.
 * Idempotent. Returns how many changes it took and the greatest id among them.
 */
export async function replayConversionBatch(
  tx: AnyPgDatabase,
  family: FamilySpec,
  layouts: readonly TableLayout[],
  direction: Direction,
  sides: Sides,
  /** null: no limit. */
  limit: number | null,
  /**
   * Only changes after `after` (the last id the previous batch of a catch-up took: the index
   * scan then starts there instead of stepping over every entry the batches before deleted,
   * which no vacuum has removed yet) and up to `upTo` (the end of the log when it began).
   */
  range: { after?: string | null; upTo?: string | null } = {},
): Promise<ReplayBatch> {
  const after = range.after ?? null;
  const batch = await replayBatch(tx, conversionReplaySql(layouts, direction, sides), [
    family.name,
    direction,
    after,
    range.upTo ?? null,
    limit,
    ...layouts.map((l) => l.name),
  ]);
  return { ...batch, lastId: batch.lastId ?? after };
}

/** Changes waiting to be replayed in one direction. */
export async function pendingChanges(
  db: AnyPgDatabase,
  family: FamilySpec,
  direction: Direction,
): Promise<number> {
  const rows = await query<{ n: string }>(
    db,
    sql`SELECT count(*)::text AS n FROM ${sql.raw(rowLog.table)}
        WHERE family = ${family.name} AND direction = ${direction}`,
  );
  return Number(rows[0]?.n ?? 0);
}
