import { bigint, index, pgSchema, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import type postgres from 'postgres';
import {
  type AnyPgDatabase,
  type FamilySpec,
  familyMigrationSql,
  partitionFamily,
} from '../../src/index.js';

/**
 * pgparts's side, through its public API only: the tables declared with Drizzle, a family per
 * schema declared with partitionFamily next to them, the install-time SQL
 * (familyMigrationSql: DEFAULT and the partitions around today) and then maintain / drainKey /
 * inspect / status as an app would call them.
 */

export function eventsTables(schemaName: string, table = 'events') {
  const schema = pgSchema(schemaName);
  const events = schema.table(
    table,
    {
      id: bigint('id', { mode: 'number' }).notNull(),
      occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
      payload: text('payload'),
    },
    (t) => [primaryKey({ columns: [t.id, t.occurredAt] }), index().on(t.occurredAt)],
  );
  const notes = schema.table(
    'event_notes',
    {
      id: bigint('id', { mode: 'number' }).notNull(),
      eventId: bigint('event_id', { mode: 'number' }).notNull(),
      occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
      note: text('note'),
    },
    (t) => [primaryKey({ columns: [t.id, t.occurredAt] })],
  );
  return { events, notes };
}

export interface FamilyOptions {
  name: string;
  schema: string;
  table?: string;
  withNotes?: boolean;
  premake?: number;
  past?: number;
  keep?: number;
  interval?: 'month' | 'day';
}

/** A monthly (or daily) family with DEFAULT; `keep` adds drop retention of that many months. */
export function eventsFamily(o: FamilyOptions): FamilySpec {
  const t = eventsTables(o.schema, o.table);
  return partitionFamily({
    name: o.name,
    schema: o.schema,
    tables: o.withNotes ? [t.events, t.notes] : [t.events],
    partitionBy: {
      strategy: 'range',
      column: 'occurred_at',
      interval: o.interval ?? 'month',
      premake: o.premake ?? 3,
      past: o.past ?? 0,
    },
    defaultPartition: true,
    ...(o.keep ? { retention: { keep: o.keep, mode: 'drop' as const } } : {}),
  });
}

/** What an install runs after the CREATE TABLEs: DEFAULT and past..premake partitions. */
export async function installFamily(sql: postgres.Sql, family: FamilySpec): Promise<void> {
  for (const statement of familyMigrationSql(family)) await sql.unsafe(statement);
}

export type { AnyPgDatabase };
