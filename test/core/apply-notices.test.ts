import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { maintain } from '../../src/run/maintain.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * An app's first maintain() makes pgparts's bookkeeping tables with CREATE ... IF NOT EXISTS; the
 * server's "already exists, skipping" NOTICEs went to the app's notice handler (postgres.js
 * prints each NOTICE object by default). The run's session hears warnings and errors only, and
 * the app's connection gets its own setting back.
 */
describe("a maintenance run's notices", () => {
  it('reach the app only from its own statements', async () => {
    await t.sql.unsafe(`CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    const family = parseFamily({
      name: 'events',
      tables: ['events'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
    });
    const heard: string[] = [];
    const client = t.connect({ max: 1, onnotice: (n) => heard.push(String(n.message)) });
    for (let run = 0; run < 2; run += 1) {
      expect((await maintain(drizzle(client), { families: [family] })).ok).toBe(true);
    }
    expect(heard).toEqual([]);
    // The app's own statements still notify it.
    await client.unsafe('CREATE TABLE IF NOT EXISTS events_note (id int)');
    await client.unsafe('CREATE TABLE IF NOT EXISTS events_note (id int)');
    expect(heard).toEqual(['relation "events_note" already exists, skipping']);
    await client.end();
  });
});
