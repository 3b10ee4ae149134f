import { expect } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { apply } from '../../src/run/apply.js';
import { type TableDigest, tableDigest } from '../support/table-checksum.js';
import type { TestDatabase } from '../support/test-database.js';

/** A monthly family of `events` and the `event_notes` that reference them (the reattach tests'). */
export const eventsFamily = parseFamily({
  name: 'events',
  tables: ['events', 'event_notes'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0, past: 2 },
});

/**
 * Both tables with their partitions as of 2026-03-15, 300 events and a note each in January;
 * `key` is the notes' foreign key as written after the columns (its name and actions). Returns
 * both tables' digests.
 */
export async function eventsWithNotes(
  t: TestDatabase,
  key = 'FOREIGN KEY (event_id, at) REFERENCES events (id, at)',
): Promise<TableDigest[]> {
  await t.sql.unsafe(`
    CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);
    CREATE TABLE event_notes (id bigint NOT NULL, event_id bigint NOT NULL, at timestamptz NOT NULL,
      PRIMARY KEY (id, at), ${key})
      PARTITION BY RANGE (at);`);
  expect(
    (await apply(t.db, { families: [eventsFamily], now: new Date('2026-03-15T00:00:00Z') })).failed,
  ).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO events SELECT g, timestamptz '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 300) g;
    INSERT INTO event_notes SELECT g, g, timestamptz '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 300) g;`);
  return eventsDigests(t);
}

export async function eventsDigests(t: TestDatabase): Promise<TableDigest[]> {
  return [
    await tableDigest(t.sql, 'events', ['id']),
    await tableDigest(t.sql, 'event_notes', ['id']),
  ];
}
