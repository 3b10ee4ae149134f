import { getTableConfig } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import {
  killmailParticipants,
  killmailsEnriched,
  killmailsRaw,
} from '../../src/domains/killmails/tables.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { leaderboardRun, runGroupMember } from '../../src/domains/leaderboard/tables.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

interface IndexShape {
  name: string;
  am: string;
  unique: boolean;
  keyColumns: number;
  columns: string;
  options: string;
  predicate: string | null;
}

/** Each index of a table, by the parent index it belongs to (itself, for the parent). */
async function indexesOf(table: string): Promise<Map<string, IndexShape>> {
  const rows = await t.sql<(IndexShape & { parent: string })[]>`
    SELECT coalesce(parent_index.relname, ic.relname) AS parent, ic.relname AS name,
           am.amname AS am, i.indisunique AS unique, i.indnkeyatts::int AS "keyColumns",
           (SELECT string_agg(coalesce(a.attname, '?'), ',' ORDER BY k.ord)
              FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
              LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns,
           i.indoption::text AS options,
           pg_get_expr(i.indpred, i.indrelid) AS predicate
    FROM pg_index i
    JOIN pg_class ic ON ic.oid = i.indexrelid
    JOIN pg_am am ON am.oid = ic.relam
    LEFT JOIN pg_inherits inh ON inh.inhrelid = i.indexrelid
    LEFT JOIN pg_class parent_index ON parent_index.oid = inh.inhparent
    WHERE i.indrelid = ${table}::regclass`;
  return new Map(rows.map(({ parent, ...shape }) => [parent, shape]));
}

const future = { from: new Date('2031-01-01T00:00:00Z'), to: new Date('2031-02-01T00:00:00Z') };
const cases = [
  ...[leaderboardRun, runGroupMember].map((table) => ({
    family: leaderboardFamily,
    table,
    key: { kind: 'list', value: 99 } as const,
  })),
  ...[killmailsRaw, killmailsEnriched, killmailParticipants].map((table) => ({
    family: killmailFamily,
    table,
    key: { kind: 'range', ...future } as const,
  })),
].map((c) => ({ ...c, name: getTableConfig(c.table).name }));

describe('declared indexes', () => {
  it.each(cases)(
    'exist on $name and on a partition created afterwards',
    async ({ family, table, key }) => {
      const config = getTableConfig(table);
      const parent = await indexesOf(config.name);

      const declared = config.indexes.map((i) => i.config.name as string);
      if (config.name === 'leaderboard_run') declared.push('idx_leaderboard_run_cleanup');
      for (const name of declared) expect([...parent.keys()]).toContain(name);

      for (const statement of createPartitionSql(family, config.name, key))
        await t.sql.unsafe(statement);
      const partitionName = (
        await t.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = ${config.name}::regclass ORDER BY c.oid DESC LIMIT 1`
      )[0]?.name;
      const child = await indexesOf(partitionName ?? '');

      expect([...child.keys()].sort()).toEqual([...parent.keys()].sort());
      for (const [name, shape] of parent) {
        const { name: _childName, ...childShape } = child.get(name) as IndexShape;
        const { name: _parentName, ...parentShape } = shape;
        expect(childShape, `${name} on ${partitionName}`).toEqual(parentShape);
      }
    },
  );

  it('keeps DESC and INCLUDE where the plan asked for them', async () => {
    const parent = await indexesOf('leaderboard_run');
    const cleanup = parent.get('idx_leaderboard_run_cleanup');
    // 3 = DESC | NULLS FIRST, the flags of a plain DESC column; id is an INCLUDE column.
    expect(cleanup).toMatchObject({
      columns: 'season_id,period_id,dungeon_id,keystone_level,score,id',
      keyColumns: 5,
      options: '0 0 0 3 3',
    });
    // The ranking's order (migration 0006): level DESC, score DESC, then id.
    expect(parent.get('idx_leaderboard_run_season_dungeon')).toMatchObject({
      columns: 'season_id,dungeon_id,keystone_level,score,id',
      options: '0 0 3 3 0',
    });
    const raw = await indexesOf('killmails_raw');
    expect(raw.get('idx_killmails_raw_system_time')?.options).toBe('0 3');
    const participants = await indexesOf('killmail_participants');
    expect(participants.get('idx_killmail_participants_character')).toMatchObject({
      columns: 'character_id,killmail_time,killmail_id',
      options: '0 3 3',
      predicate: '(character_id IS NOT NULL)',
    });
  });

  it('indexes every lookup name with a trigram GIN index', async () => {
    for (const table of ['characters', 'corporations', 'alliances', 'systems']) {
      const shapes = await indexesOf(table);
      expect(shapes.get(`idx_${table}_name_trgm`)).toMatchObject({ am: 'gin', columns: 'name' });
    }
  });
});
