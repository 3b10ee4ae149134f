import {
  bigserial,
  doublePrecision,
  foreignKey,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

/**
 * The leaderboard schema of the original plan, with the keys corrected for LIST partitioning by
 * season_id (docs/postgres-behaviours.md#unique-keys-include-the-partition-key, docs/postgres-behaviours.md#foreign-keys-reference-the-partition-key). Both big tables are partitioned in the migration, which
 * drizzle-kit cannot express; see src/domains/leaderboard/partitioning.ts.
 */

export const season = pgTable('season', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  startsAt: timestamp('starts_at', { withTimezone: true }),
  endsAt: timestamp('ends_at', { withTimezone: true }),
});

export const period = pgTable('period', {
  id: integer('id').primaryKey(),
  seasonId: integer('season_id').references(() => season.id),
  startsAt: timestamp('starts_at', { withTimezone: true }),
  endsAt: timestamp('ends_at', { withTimezone: true }),
});

export const dungeon = pgTable('dungeon', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
});

export const realm = pgTable('realm', {
  id: integer('id').primaryKey(),
  name: text('name').notNull(),
  region: varchar('region', { length: 8 }).notNull(),
});

export const leaderboardRun = pgTable(
  'leaderboard_run',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    runGuid: uuid('run_guid').notNull(),
    region: varchar('region', { length: 8 }),
    seasonId: integer('season_id')
      .notNull()
      .references(() => season.id),
    periodId: integer('period_id').references(() => period.id),
    dungeonId: integer('dungeon_id').references(() => dungeon.id),
    realmId: integer('realm_id').references(() => realm.id),
    completedAt: timestamp('completed_at'),
    durationMs: integer('duration_ms'),
    keystoneLevel: integer('keystone_level'),
    score: doublePrecision('score'),
    rank: integer('rank'),
  },
  (t) => [
    // A key on a partitioned table must contain the partition column (docs/postgres-behaviours.md#unique-keys-include-the-partition-key).
    primaryKey({ name: 'leaderboard_run_pkey', columns: [t.seasonId, t.id] }),
    // run_guid is unique per season; a lookup by run_guid alone uses the index below.
    unique('leaderboard_run_season_id_run_guid_key').on(t.seasonId, t.runGuid),
    unique('leaderboard_run_natural_key').on(
      t.dungeonId,
      t.periodId,
      t.seasonId,
      t.region,
      t.completedAt,
      t.durationMs,
      t.keystoneLevel,
      t.score,
    ),
    index('idx_leaderboard_run_run_guid').on(t.runGuid),
    // topRuns without a period reads it in rank order (level DESC, score DESC, id). Declared
    // first with score ASC; changed by migrations 0005 (drop) and 0006 (built online).
    index('idx_leaderboard_run_season_dungeon').on(
      t.seasonId,
      t.dungeonId,
      t.keystoneLevel.desc().nullsFirst(),
      t.score.desc().nullsFirst(),
      t.id,
    ),
    index('idx_leaderboard_run_season_period_dungeon').on(
      t.seasonId,
      t.periodId,
      t.dungeonId,
      t.keystoneLevel.desc().nullsFirst(),
      t.score.desc().nullsFirst(),
    ),
    // idx_leaderboard_run_cleanup (... INCLUDE (id)) is in the partition migration: Drizzle has
    // no INCLUDE.
  ],
);

export const runGroupMember = pgTable(
  'run_group_member',
  {
    seasonId: integer('season_id').notNull(),
    runGuid: uuid('run_guid').notNull(),
    characterName: varchar('character_name', { length: 64 }).notNull(),
    classId: integer('class_id'),
    specId: integer('spec_id'),
    role: varchar('role', { length: 16 }),
  },
  (t) => [
    primaryKey({
      name: 'run_group_member_pkey',
      columns: [t.seasonId, t.runGuid, t.characterName],
    }),
    // Composite FK: a unique key on run_guid alone cannot exist on a partitioned table (docs/postgres-behaviours.md#foreign-keys-reference-the-partition-key);
    // this one also rejects a member whose run lives in another season.
    foreignKey({
      name: 'run_group_member_run_fkey',
      columns: [t.seasonId, t.runGuid],
      foreignColumns: [leaderboardRun.seasonId, leaderboardRun.runGuid],
    }).onDelete('cascade'),
    index('idx_run_group_member_season_character').on(t.seasonId, t.characterName),
  ],
);

export type LeaderboardRun = typeof leaderboardRun.$inferSelect;
export type NewLeaderboardRun = typeof leaderboardRun.$inferInsert;
export type RunGroupMember = typeof runGroupMember.$inferSelect;
export type NewRunGroupMember = typeof runGroupMember.$inferInsert;
