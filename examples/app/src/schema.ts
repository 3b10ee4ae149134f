import {
  bigint,
  bigserial,
  index,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

/** A plain table: drizzle-kit owns it entirely. */
export const accounts = pgTable('accounts', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  displayName: text('displayName').notNull(),
  createdAt: timestamp('createdAt', { withTimezone: true }).defaultNow().notNull(),
});

/**
 * Partitioned by day (pgparts.config.ts): the partition column is part of the primary key, as
 * PostgreSQL requires of every unique constraint on a partitioned table.
 */
export const appEvents = pgTable(
  'app_events',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    occurredAt: timestamp('occurredAt', { withTimezone: true }).notNull(),
    accountId: bigint('accountId', { mode: 'number' }).notNull(),
    kind: text('kind').notNull(),
    payload: jsonb('payload'),
  },
  (t) => [
    primaryKey({ columns: [t.id, t.occurredAt] }),
    index('app_events_account_idx').on(t.accountId, t.occurredAt),
  ],
);

/** Partitioned by region, a text LIST with a DEFAULT for regions nobody listed yet. */
export const regionOrders = pgTable(
  'region_orders',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    region: text('region').notNull(),
    placedAt: timestamp('placedAt', { withTimezone: true }).defaultNow().notNull(),
    totalCents: bigint('totalCents', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.region, t.id] })],
);
