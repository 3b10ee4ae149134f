import { describe, expect, it } from 'vitest';
import type { FamilySpec } from '../../src/define/spec.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { newPartitionsSql } from '../../src/migrations/new-partitions.js';
import { ensureOwnership } from '../../src/ops/ownership.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** The leaderboard family with a third table, as an app's later schema adds it. */
const grown: FamilySpec = {
  ...leaderboardFamily,
  tables: [...leaderboardFamily.tables, 'run_note'],
};

describe('partitions a migration creates after the ownership carry-over', () => {
  it('are recorded as pgparts-owned by the migration (a table added to a carried-over family)', async () => {
    expect(await ensureOwnership(t.db, leaderboardFamily)).toBeGreaterThan(0); // carried over
    await t.sql`CREATE TABLE run_note (season_id integer NOT NULL, run_guid uuid, note text)
                PARTITION BY LIST (season_id)`;
    // What pgparts generate writes for the added table, run as the migration runner runs it.
    await t.sql.begin(async (tx) => {
      for (const statement of newPartitionsSql(grown, ['run_note'])) await tx.unsafe(statement);
    });
    const owned = await t.sql`SELECT o.name, o.parent, o.role, o.relid = c.oid AS same_oid
      FROM pgparts_owned_tables o JOIN pg_class c ON c.relname = o.name
      WHERE o.parent = 'run_note' ORDER BY o.name`;
    expect(owned).toEqual([
      { name: 'run_note_default', parent: 'run_note', role: 'partition', same_oid: true },
    ]);
  });

  it('before any carry-over they record nothing; the carry-over adopts them', async () => {
    await t.sql`DROP TABLE run_note, pgparts_owned_tables, pgparts_ownership_adopted`;
    await t.sql`CREATE TABLE run_note (season_id integer NOT NULL, run_guid uuid, note text)
                PARTITION BY LIST (season_id)`;
    for (const statement of newPartitionsSql(grown, ['run_note'])) await t.sql.unsafe(statement);
    expect(await ensureOwnership(t.db, grown)).toBeGreaterThan(0);
    const [n] =
      await t.sql`SELECT count(*)::int AS n FROM pgparts_owned_tables WHERE name = 'run_note_default'`;
    expect(n?.n).toBe(1);
  });
});
