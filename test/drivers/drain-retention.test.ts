import { randomUUID } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { killmailParticipants, killmailsRaw } from '../../src/domains/killmails/tables.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { leaderboardRun, runGroupMember, season } from '../../src/domains/leaderboard/tables.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey } from '../../src/ops/retention.js';
import { rowsOf } from '../../src/run/rows.js';
import { quoteIdent } from '../../src/sql/identifiers.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { driverFactories, useDriverDatabase } from '../support/drivers.js';

const current = intervalStart('month', new Date());
const month = (offset: number) => addIntervals('month', current, offset);

describe.each(driverFactories)('drain and retention through $name', (driver) => {
  const t = useDriverDatabase(driver);

  const rows = async <T>(query: SQL) => rowsOf<T>(await t.db.execute(query));
  /** Count and md5 over the rows in a stable order: equal before and after means no row changed. */
  const digest = async (table: string, where: SQL) => {
    const [row] = await rows<{ n: number | string; sum: string }>(sql`
      SELECT count(*) AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS sum
      FROM ${sql.raw(quoteIdent(table))} x WHERE ${where}`);
    return { n: Number(row?.n), sum: row?.sum };
  };
  const partitionsOf = async (parent: string) =>
    (
      await rows<{ name: string }>(sql`SELECT c.relname AS name FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = ${parent}::regclass ORDER BY 1`)
    ).map((r) => r.name);

  beforeAll(async () => {
    // Season 4 arrives before its partitions: 40 runs and 80 members land in DEFAULT.
    await t.db.insert(season).values({ id: 4, name: 'Season 4' });
    const guids = Array.from({ length: 40 }, () => randomUUID());
    await t.db.insert(leaderboardRun).values(
      guids.map((runGuid, i) => ({
        runGuid,
        seasonId: 4,
        keystoneLevel: 2 + (i % 20),
        score: i,
      })),
    );
    await t.db.insert(runGroupMember).values(
      guids.flatMap((runGuid) => [
        { seasonId: 4, runGuid, characterName: 'Tank' },
        { seasonId: 4, runGuid, characterName: 'Healer' },
      ]),
    );
    // A month past retention (-13) with 5 killmails, and 5 in the current month.
    for (const table of killmailFamily.tables) {
      for (const ddl of createPartitionSql(killmailFamily, table, {
        kind: 'range',
        from: month(-13),
        to: month(-12),
      })) {
        await t.db.execute(sql.raw(ddl));
      }
    }
    for (const [offset, base] of [
      [-13, 500],
      [0, 600],
    ] as const) {
      const killmails = Array.from({ length: 5 }, (_, i) => ({
        killmailId: base + i,
        killmailTime: new Date(month(offset).getTime() + (i + 1) * 3_600_000),
        systemId: 30000142,
        shipTypeId: 587,
        rawPayload: { i },
      }));
      await t.db.insert(killmailsRaw).values(killmails);
      await t.db.insert(killmailParticipants).values(
        killmails.map((k) => ({
          killmailId: k.killmailId,
          killmailTime: k.killmailTime,
          position: 0,
          isVictim: true,
          characterId: 9000 + k.killmailId,
        })),
      );
    }
  });

  it('drains a season out of DEFAULT into its own partitions, every row kept', async () => {
    const seasonFour = sql`season_id = 4`;
    const before = {
      runs: await digest('leaderboard_run', seasonFour),
      members: await digest('run_group_member', seasonFour),
    };
    expect([before.runs.n, before.members.n]).toEqual([40, 80]);
    const result = await drainKey(t.db, leaderboardFamily, { kind: 'list', value: 4 });
    expect(result).toMatchObject({ status: 'drained', rowsMoved: 120 });
    expect({
      runs: await digest('leaderboard_run', seasonFour),
      members: await digest('run_group_member', seasonFour),
    }).toEqual(before);
    const where = await rows<{ part: string; n: number | string }>(sql`
      SELECT tableoid::regclass::text AS part, count(*) AS n FROM leaderboard_run GROUP BY 1
      UNION ALL
      SELECT tableoid::regclass::text, count(*) FROM run_group_member GROUP BY 1 ORDER BY 1`);
    expect(where.map((r) => [r.part, Number(r.n)])).toEqual([
      ['leaderboard_run_s4', 40],
      ['run_group_member_s4', 80],
    ]);
  });

  it('retires the month past retention from raw, enriched and participants, nothing else', async () => {
    const kept = sql`killmail_time >= ${month(-12).toISOString()}::timestamptz`;
    const before = {
      raw: await digest('killmails_raw', kept),
      participants: await digest('killmail_participants', kept),
    };
    expect([before.raw.n, before.participants.n]).toEqual([5, 5]);
    const result = await retireKey(t.db, killmailFamily, {
      kind: 'range',
      from: month(-13),
      to: month(-12),
    });
    expect(result.status).toBe('retired');
    // No DEFAULT partition on the killmail tables: DETACH ... CONCURRENTLY (docs/postgres-behaviours.md#detach-concurrently-and-default).
    expect(result.detach).toBe('concurrently');
    // (p.rows is pg_class.reltuples, an estimate: not asserted.)
    const suffix = month(-13).toISOString().slice(0, 7).replace('-', '_');
    expect(result.partitions.map((p) => [p.partition, p.archivedAs])).toEqual([
      [`killmail_participants_${suffix}`, null],
      [`killmails_enriched_${suffix}`, null],
      [`killmails_raw_${suffix}`, null],
    ]);
    for (const table of killmailFamily.tables) {
      const names = await partitionsOf(table);
      expect(names).toHaveLength(16);
    }
    expect({
      raw: await digest('killmails_raw', kept),
      participants: await digest('killmail_participants', kept),
    }).toEqual(before);
    const [all] = await rows<{ n: number | string }>(sql`SELECT count(*) AS n FROM killmails_raw`);
    expect(Number(all?.n)).toBe(5);
  });
});
