import { describe, expect, it } from 'vitest';
import type { FamilySpec } from '../../src/define/spec.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
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

  it('RANGE: the migrate-time partitions of an added table are recorded, and only its own are made', async () => {
    const killmails: FamilySpec = {
      ...killmailFamily,
      tables: [...killmailFamily.tables, 'killmail_note'],
    };
    expect(await ensureOwnership(t.db, killmailFamily)).toBeGreaterThan(0); // carried over
    const partitionsOf = async (parent: string) => {
      const [row] = await t.sql`SELECT count(*)::int AS n FROM pg_inherits
        WHERE inhparent = ${parent}::regclass`;
      return row?.n;
    };
    // A month the engine retired from an existing table must not come back with the new table.
    const [oldest] =
      await t.sql`SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'killmails_raw'::regclass AND c.relname <> 'killmails_raw_default'
      ORDER BY c.relname LIMIT 1`;
    await t.sql`ALTER TABLE killmails_raw DETACH PARTITION ${t.sql(String(oldest?.relname))}`;
    await t.sql`DROP TABLE ${t.sql(String(oldest?.relname))}`;
    const rawBefore = await partitionsOf('killmails_raw');
    await t.sql`CREATE TABLE killmail_note (killmail_id bigint NOT NULL,
                killmail_time timestamptz NOT NULL, note text) PARTITION BY RANGE (killmail_time)`;
    await t.sql.begin(async (tx) => {
      for (const statement of newPartitionsSql(killmails, ['killmail_note']))
        await tx.unsafe(statement);
    });
    expect(await partitionsOf('killmails_raw')).toBe(rawBefore);
    // Every partition of the new table is recorded, by oid, with the key label the engine uses.
    const rows = await t.sql`SELECT c.relname AS name, o.key, o.role,
        pg_get_expr(c.relpartbound, c.oid) AS bound
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      LEFT JOIN pgparts_owned_tables o ON o.relid = c.oid
      WHERE i.inhparent = 'killmail_note'::regclass ORDER BY c.relname`;
    const p = killmailFamily.partitionBy;
    const expected = p.strategy === 'range' ? p.past + p.premake + 1 : 0;
    expect(rows.filter((r) => r.name !== 'killmail_note_default')).toHaveLength(expected);
    for (const r of rows) {
      expect(r.role, String(r.name)).toBe('partition');
      if (r.name === 'killmail_note_default') {
        expect(r.key).toBe('DEFAULT');
        continue;
      }
      const [, from, to] =
        /FROM \('(\d{4}-\d{2}-\d{2})[^)]*\) TO \('(\d{4}-\d{2}-\d{2})/.exec(String(r.bound)) ?? [];
      expect(r.key, String(r.name)).toBe(`${from}..${to}`);
    }
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
