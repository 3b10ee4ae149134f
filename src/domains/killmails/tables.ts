import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  foreignKey,
  index,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgTable,
  primaryKey,
  real,
  smallint,
  text,
  timestamp,
  unique,
} from 'drizzle-orm/pg-core';

/**
 * The killmail feed of the original plan. The plan's `timestamp` column is named `killmail_time`
 * here (a column named after a type reads badly in SQL). raw, enriched and participants are
 * co-partitioned by killmail_time with the same monthly bounds (docs/postgres-behaviours.md#unique-keys-include-the-partition-key, docs/postgres-behaviours.md#co-partitioning); every key that
 * references raw carries killmail_time. Partitioning is added by the migration: see
 * src/domains/killmails/partitioning.ts.
 */

const gameId = (name: string) => bigint(name, { mode: 'number' });
const instant = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const killmailsRaw = pgTable(
  'killmails_raw',
  {
    killmailId: gameId('killmail_id').notNull(),
    killmailTime: instant('killmail_time').notNull(),
    systemId: gameId('system_id').notNull(),
    shipTypeId: gameId('ship_type_id').notNull(),
    rawPayload: jsonb('raw_payload').notNull(),
    insertedAt: instant('inserted_at').notNull().defaultNow(),
  },
  (t) => [
    // The plan's PRIMARY KEY (killmail_id) cannot exist on a table partitioned by time (docs/postgres-behaviours.md#unique-keys-include-the-partition-key).
    // The plan's extra index on (killmail_id) is dropped: this key leads with it.
    primaryKey({ name: 'killmails_raw_pkey', columns: [t.killmailId, t.killmailTime] }),
    index('idx_killmails_raw_time').on(t.killmailTime.desc().nullsFirst()),
    index('idx_killmails_raw_system_time').on(t.systemId, t.killmailTime.desc().nullsFirst()),
    index('idx_killmails_raw_ship_type_time').on(t.shipTypeId, t.killmailTime.desc().nullsFirst()),
  ],
);

export const killmailsEnriched = pgTable(
  'killmails_enriched',
  {
    killmailId: gameId('killmail_id').notNull(),
    // Partitioned by the killmail's own time, like raw: not by enriched_at (docs/postgres-behaviours.md#co-partitioning).
    killmailTime: instant('killmail_time').notNull(),
    iskValue: numeric('isk_value').notNull(),
    moduleTags: text('module_tags').array().notNull(),
    enrichmentBlob: jsonb('enrichment_blob').notNull(),
    enrichedAt: instant('enriched_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'killmails_enriched_pkey', columns: [t.killmailId, t.killmailTime] }),
    foreignKey({
      name: 'killmails_enriched_raw_fkey',
      columns: [t.killmailId, t.killmailTime],
      foreignColumns: [killmailsRaw.killmailId, killmailsRaw.killmailTime],
    }).onDelete('cascade'),
    index('idx_killmails_enriched_enriched_at').on(t.enrichedAt.desc().nullsFirst()),
    // killmail_time after isk_value: killsWorthAtLeast reads the values from the top down and
    // checks its window in the index, fetching only the rows it returns.
    index('idx_killmails_enriched_isk_value').on(t.iskValue, t.killmailTime),
    // Newest first within a window: killsWithModuleTags / killsWithEnrichment walk it for a
    // common tag or fragment and stop at the limit (GIN serves a rare one).
    index('idx_killmails_enriched_time').on(
      t.killmailTime.desc().nullsFirst(),
      t.killmailId.desc().nullsFirst(),
    ),
    index('idx_killmails_enriched_module_tags').using('gin', t.moduleTags),
    index('idx_killmails_enriched_blob').using('gin', t.enrichmentBlob.op('jsonb_path_ops')),
  ],
);

export const killmailParticipants = pgTable(
  'killmail_participants',
  {
    killmailId: gameId('killmail_id').notNull(),
    killmailTime: instant('killmail_time').notNull(),
    // 0 is the victim, 1.. the attackers. The plan's key (killmail_id, character_id) cannot hold
    // NPC attackers, which have no character, nor several of them on one killmail.
    position: smallint('position').notNull(),
    isVictim: boolean('is_victim').notNull(),
    characterId: gameId('character_id'),
    corporationId: gameId('corporation_id'),
    allianceId: gameId('alliance_id'),
    factionId: gameId('faction_id'),
    shipTypeId: gameId('ship_type_id'),
    weaponTypeId: gameId('weapon_type_id'),
    damageDone: integer('damage_done').notNull().default(0),
    damageTaken: integer('damage_taken').notNull().default(0),
    finalBlow: boolean('final_blow').notNull().default(false),
    securityStatus: real('security_status'),
  },
  (t) => [
    primaryKey({
      name: 'killmail_participants_pkey',
      columns: [t.killmailId, t.killmailTime, t.position],
    }),
    foreignKey({
      name: 'killmail_participants_raw_fkey',
      columns: [t.killmailId, t.killmailTime],
      foreignColumns: [killmailsRaw.killmailId, killmailsRaw.killmailTime],
    }).onDelete('cascade'),
    // "Kills of X, newest first" pages by (killmail_time, killmail_id): the plan's
    // (character_id, killmail_id DESC) becomes (character_id, killmail_time DESC, killmail_id DESC).
    // Partial: NPC rows (no character, corporation or alliance) are not worth indexing.
    index('idx_killmail_participants_character')
      .on(t.characterId, t.killmailTime.desc().nullsFirst(), t.killmailId.desc().nullsFirst())
      .where(sql`character_id IS NOT NULL`),
    index('idx_killmail_participants_corporation')
      .on(t.corporationId, t.killmailTime.desc().nullsFirst(), t.killmailId.desc().nullsFirst())
      .where(sql`corporation_id IS NOT NULL`),
    index('idx_killmail_participants_alliance')
      .on(t.allianceId, t.killmailTime.desc().nullsFirst(), t.killmailId.desc().nullsFirst())
      .where(sql`alliance_id IS NOT NULL`),
  ],
);

// Lookup tables, keyed by the game's own ids. Names are searched with pg_trgm (the extension is
// created by the first migration); (corporation_id) and (alliance_id) serve a character page.
export const alliances = pgTable(
  'alliances',
  { id: gameId('id').primaryKey(), name: text('name').notNull(), ticker: text('ticker') },
  (t) => [index('idx_alliances_name_trgm').using('gin', t.name.op('gin_trgm_ops'))],
);

export const corporations = pgTable(
  'corporations',
  {
    id: gameId('id').primaryKey(),
    name: text('name').notNull(),
    ticker: text('ticker'),
    allianceId: gameId('alliance_id'),
  },
  (t) => [index('idx_corporations_name_trgm').using('gin', t.name.op('gin_trgm_ops'))],
);

export const characters = pgTable(
  'characters',
  {
    id: gameId('id').primaryKey(),
    name: text('name').notNull(),
    corporationId: gameId('corporation_id'),
    allianceId: gameId('alliance_id'),
  },
  (t) => [
    index('idx_characters_name_trgm').using('gin', t.name.op('gin_trgm_ops')),
    index('idx_characters_corporation').on(t.corporationId),
    index('idx_characters_alliance').on(t.allianceId),
  ],
);

export const systems = pgTable(
  'systems',
  {
    id: gameId('id').primaryKey(),
    name: text('name').notNull(),
    securityStatus: real('security_status'),
    regionId: gameId('region_id'),
  },
  (t) => [index('idx_systems_name_trgm').using('gin', t.name.op('gin_trgm_ops'))],
);

export const users = pgTable('users', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  name: text('name').notNull(),
  createdAt: instant('created_at').notNull().defaultNow(),
});

export const usersCharacters = pgTable(
  'users_characters',
  {
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    characterId: gameId('character_id').notNull(),
  },
  (t) => [
    // This key serves lookups by user_id; the plan's separate (user_id) index is redundant.
    primaryKey({ name: 'users_characters_pkey', columns: [t.userId, t.characterId] }),
    index('idx_users_characters_character').on(t.characterId),
  ],
);

export const surveillanceProfiles = pgTable(
  'surveillance_profiles',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: instant('created_at').notNull().defaultNow(),
  },
  (t) => [index('idx_surveillance_profiles_user').on(t.userId)],
);

export const surveillanceFilterType = pgEnum('surveillance_filter_type', [
  'system',
  'ship_type',
  'character',
  'corporation',
  'alliance',
  'min_isk',
  'module_tags',
]);

export const surveillanceFilters = pgTable(
  'surveillance_filters',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    profileId: bigint('profile_id', { mode: 'number' })
      .notNull()
      .references(() => surveillanceProfiles.id, { onDelete: 'cascade' }),
    orderIndex: integer('order_index').notNull(),
    filterType: surveillanceFilterType('filter_type').notNull(),
    value: jsonb('value').notNull(),
  },
  (t) => [
    unique('surveillance_filters_profile_order_key').on(t.profileId, t.orderIndex),
    index('idx_surveillance_filters_type').on(t.filterType),
    index('idx_surveillance_filters_value').using('gin', t.value),
  ],
);

export type KillmailRaw = typeof killmailsRaw.$inferSelect;
export type NewKillmailRaw = typeof killmailsRaw.$inferInsert;
export type KillmailEnriched = typeof killmailsEnriched.$inferSelect;
export type NewKillmailEnriched = typeof killmailsEnriched.$inferInsert;
export type KillmailParticipant = typeof killmailParticipants.$inferSelect;
export type NewKillmailParticipant = typeof killmailParticipants.$inferInsert;
