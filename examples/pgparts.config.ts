/**
 * A `--config` file: pgparts keeping the partitions of your own tables.
 *
 *   npx pgparts --config examples/pgparts.config.ts status
 *   npx pgparts --config examples/pgparts.config.ts apply
 *
 * The table is partitioned by your own migration: `pgparts generate` adds the PARTITION BY that
 * drizzle-kit cannot write to its CREATE TABLE (examples/app shows the whole workflow), or, by
 * hand:
 *
 *   CREATE TABLE app_events (
 *     id bigserial NOT NULL, occurred_at timestamptz NOT NULL, kind text NOT NULL, payload jsonb,
 *     PRIMARY KEY (id, occurred_at)
 *   ) PARTITION BY RANGE (occurred_at);
 *
 * pgparts then creates a partition per UTC day, a week ahead, and (apply --yes) drops those
 * older than 30 days. The file may be .ts (loaded through jiti, bundled with pgparts), .mjs/.js,
 * or .json with plain specs; it exports `families`.
 */
import { bigserial, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
// In an app: from 'pgparts'.
import { partitionFamily } from '../src/index.js';

export const appEvents = pgTable(
  'app_events',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    kind: text('kind').notNull(),
    payload: jsonb('payload'),
  },
  (t) => [primaryKey({ columns: [t.id, t.occurredAt] })],
);

export const families = [
  partitionFamily({
    name: 'app_events',
    tables: [appEvents],
    partitionBy: { strategy: 'range', column: 'occurred_at', interval: 'day', premake: 7 },
    retention: { keep: 30 },
  }),
];
