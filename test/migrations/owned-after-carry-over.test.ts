import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { ensureOwnership } from '../../src/ops/ownership.js';
import { createPartitionOfSql } from '../../src/sql/partition-ddl.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

describe('partitions a migration creates after the ownership carry-over', () => {
  it('are recorded as pgparts-owned, in the migration transaction', async () => {
    await ensureOwnership(t.db, leaderboardFamily); // the family is carried over
    await t.sql`INSERT INTO season (id, name) VALUES (77, 'S77')`;
    // What a generated migration for a new season runs (pgparts generate), in one transaction.
    await t.sql.begin(async (tx) => {
      for (const table of leaderboardFamily.tables) {
        for (const statement of createPartitionOfSql(leaderboardFamily, table, {
          kind: 'list',
          value: 77,
        })) {
          await tx.unsafe(statement);
        }
      }
    });
    const owned = await t.sql`SELECT o.name, o.parent, o.key, o.role, o.relid = c.oid AS same_oid
      FROM pgparts_owned_tables o JOIN pg_class c ON c.relname = o.name
      WHERE o.key = '77' ORDER BY o.name`;
    expect(owned).toEqual([
      {
        name: 'leaderboard_run_s77',
        parent: 'leaderboard_run',
        key: '77',
        role: 'partition',
        same_oid: true,
      },
      {
        name: 'run_group_member_s77',
        parent: 'run_group_member',
        key: '77',
        role: 'partition',
        same_oid: true,
      },
    ]);
  });

  it('before any carry-over, record nothing (the carry-over adopts them by comment and name)', async () => {
    await t.sql`DROP TABLE pgparts_owned_tables, pgparts_ownership_adopted`;
    await t.sql`INSERT INTO season (id, name) VALUES (78, 'S78')`;
    for (const table of leaderboardFamily.tables) {
      for (const statement of createPartitionOfSql(leaderboardFamily, table, {
        kind: 'list',
        value: 78,
      })) {
        await t.sql.unsafe(statement);
      }
    }
    expect(await ensureOwnership(t.db, leaderboardFamily)).toBeGreaterThanOrEqual(4);
    const [n] =
      await t.sql`SELECT count(*)::int AS n FROM pgparts_owned_tables WHERE key IN ('77', '78')`;
    expect(n?.n).toBe(4);
  });
});
