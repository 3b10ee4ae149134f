import { sql } from 'drizzle-orm';
import {
  bigint,
  doublePrecision,
  integer,
  pgMaterializedView,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent } from '../../sql/identifiers.js';

/** How many runs each top_keys_* view keeps per group. */
export const TOP_KEYS_LIMIT = 100;

/** The groups each view ranks within; every view is per season. */
const VIEW_GROUPS = {
  top_keys_per_group: ['season_id', 'period_id', 'dungeon_id'],
  top_keys_per_period: ['season_id', 'period_id'],
  top_keys_per_dungeon: ['season_id', 'dungeon_id'],
  top_keys_global: ['season_id'],
} as const;

export type TopKeysViewName = keyof typeof VIEW_GROUPS;
export const TOP_KEYS_VIEWS = Object.keys(VIEW_GROUPS) as TopKeysViewName[];

/**
 * The views' SQL. Each ranks by keystone_level DESC, score DESC (ties: lower id first) and keeps
 * the best TOP_KEYS_LIMIT per group. The unique index on (season_id, run_id) is what REFRESH ...
 * CONCURRENTLY needs (docs/postgres-behaviours.md#refresh-concurrently); the second index serves reads by group in rank order.
 *
 * `rankedOnly`: only runs with a level and a score, as every other read ranks them. The first
 * migration's views ranked unranked runs too (NULLS LAST); that text stays as it was written,
 * and a later migration (rankedTopKeysMigrationSql) replaces them. `as`: the view's name.
 */
export function topKeysViewSql(
  view: TopKeysViewName,
  options: { rankedOnly?: boolean; as?: string } = {},
): string[] {
  const groups = VIEW_GROUPS[view].map(quoteIdent).join(', ');
  const called = options.as ?? view;
  const name = quoteIdent(called);
  const where = options.rankedOnly
    ? `\n  WHERE r."keystone_level" IS NOT NULL AND r."score" IS NOT NULL`
    : '';
  return [
    `CREATE MATERIALIZED VIEW ${name} AS
SELECT "season_id", "period_id", "dungeon_id", "position", "id" AS "run_id", "run_guid", "region",
       "realm_id", "keystone_level", "score", "duration_ms", "completed_at"
FROM (
  SELECT r.*,
         row_number() OVER (PARTITION BY ${groups}
                            ORDER BY r."keystone_level" DESC NULLS LAST, r."score" DESC NULLS LAST, r."id")
           AS "position"
  FROM "leaderboard_run" r${where}
) ranked
WHERE "position" <= ${TOP_KEYS_LIMIT}
WITH DATA`,
    `CREATE UNIQUE INDEX ${quoteIdent(`${called}_run_key`)} ON ${name} ("season_id", "run_id")`,
    `CREATE INDEX ${quoteIdent(`${called}_rank_idx`)} ON ${name} (${groups}, "position")`,
  ];
}

/**
 * The migration that replaces the first views with views of ranked runs only. Each new view is
 * built beside the old one (readers keep the old one meanwhile), then takes its name and its
 * indexes' names: readers wait only for the DROP and the renames, at the end of the migration's
 * transaction. A view someone built on top of one of them stops the DROP (no CASCADE), and the
 * migration with it.
 */
export function rankedTopKeysMigrationSql(): string[] {
  return TOP_KEYS_VIEWS.flatMap((view) => {
    const next = `${view}_next`;
    return [
      ...topKeysViewSql(view, { rankedOnly: true, as: next }),
      `DROP MATERIALIZED VIEW ${quoteIdent(view)}`,
      `ALTER MATERIALIZED VIEW ${quoteIdent(next)} RENAME TO ${quoteIdent(view)}`,
      `ALTER INDEX ${quoteIdent(`${next}_run_key`)} RENAME TO ${quoteIdent(`${view}_run_key`)}`,
      `ALTER INDEX ${quoteIdent(`${next}_rank_idx`)} RENAME TO ${quoteIdent(`${view}_rank_idx`)}`,
    ];
  });
}

/** The typed face of a top_keys_* view; its SQL lives in the partition migration. */
function topKeysView<TName extends TopKeysViewName>(name: TName) {
  return pgMaterializedView(name, {
    seasonId: integer('season_id').notNull(),
    periodId: integer('period_id'),
    dungeonId: integer('dungeon_id'),
    position: bigint('position', { mode: 'number' }).notNull(),
    runId: bigint('run_id', { mode: 'number' }).notNull(),
    runGuid: uuid('run_guid').notNull(),
    region: varchar('region', { length: 8 }),
    realmId: integer('realm_id'),
    keystoneLevel: integer('keystone_level'),
    score: doublePrecision('score'),
    durationMs: integer('duration_ms'),
    completedAt: timestamp('completed_at'),
  }).existing();
}

export const topKeysPerGroup = topKeysView('top_keys_per_group');
export const topKeysPerPeriod = topKeysView('top_keys_per_period');
export const topKeysPerDungeon = topKeysView('top_keys_per_dungeon');
export const topKeysGlobal = topKeysView('top_keys_global');

/**
 * Refreshes the four views. CONCURRENTLY (the default) keeps them readable during the refresh;
 * pass `concurrently: false` for the first fill of a view created WITH NO DATA.
 */
export async function refreshTopKeys(
  db: AnyPgDatabase,
  options: { concurrently?: boolean } = {},
): Promise<TopKeysViewName[]> {
  const concurrently = options.concurrently ?? true;
  for (const view of TOP_KEYS_VIEWS) {
    await db.execute(
      sql.raw(
        `REFRESH MATERIALIZED VIEW ${concurrently ? 'CONCURRENTLY ' : ''}${quoteIdent(view)}`,
      ),
    );
  }
  return [...TOP_KEYS_VIEWS];
}
