import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import {
  characterRuns,
  characterRunsQuery,
  runByGuidQuery,
  runMembersQuery,
  runWithMembers,
  topRuns,
  topRunsFromViews,
  topRunsFromViewsQuery,
  topRunsQuery,
  trimRuns,
  trimRunsBatchQuery,
} from '../../src/domains/leaderboard/queries/index.js';
import { refreshTopKeys } from '../../src/domains/leaderboard/views.js';
import { rowsOf } from '../../src/run/rows.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { bulkLoad } from '../support/bulk-load.js';
import {
  explainQuery,
  indexesUsed,
  planNodes,
  scannedPartitions,
  scanTypes,
} from '../support/explain-plan.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

const SEASONS = [1, 2, 3, 4];
/** Season 5 has no partition of its own: its runs live in the DEFAULT partitions. */
const SEASON_IN_DEFAULT = 5;
const RUNS_PER_SEASON = 12_000;
const ALL_RUN_PARTITIONS = [
  ...SEASONS.map((s) => `leaderboard_run_s${s}`),
  'leaderboard_run_default',
].sort();

interface Run {
  id: number;
  periodId: number;
  dungeonId: number;
  keystoneLevel: number | null;
  score: number | null;
}

/** Every run of a season, for expectations computed here, independently of the query's SQL. */
async function seasonRuns(seasonId: number): Promise<Run[]> {
  const rows = await t.sql<Run[]>`
    SELECT id::int, period_id AS "periodId", dungeon_id AS "dungeonId",
           keystone_level AS "keystoneLevel", score
    FROM leaderboard_run WHERE season_id = ${seasonId}`;
  return rows.map((r) => ({ ...r }));
}

/** The ranking, in TypeScript: ranked runs only, level desc, score desc, lower id. */
function ranked(runs: Run[]): Run[] {
  return runs
    .filter((r) => r.keystoneLevel !== null && r.score !== null)
    .sort(
      (a, b) =>
        (b.keystoneLevel ?? 0) - (a.keystoneLevel ?? 0) ||
        (b.score ?? 0) - (a.score ?? 0) ||
        a.id - b.id,
    );
}

/** count and md5 over a table's rows in a stable order: a data-safety fingerprint. */
async function fingerprint(table: 'leaderboard_run' | 'run_group_member', where = sql`true`) {
  const [row] = await t.db.execute<{ n: number; sum: string }>(sql`
    SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS sum
    FROM ${sql.raw(table)} x WHERE ${where}`);
  return row;
}

beforeAll(async () => {
  for (const s of SEASONS) {
    for (const table of leaderboardFamily.tables) {
      for (const stmt of createPartitionSql(leaderboardFamily, table, { kind: 'list', value: s })) {
        await t.sql.unsafe(stmt);
      }
    }
  }
  const allSeasons = [...SEASONS, SEASON_IN_DEFAULT];
  await t.sql`INSERT INTO season (id, name) SELECT s, 'Season ' || s FROM unnest(${allSeasons}::int[]) s`;
  await t.sql`INSERT INTO period (id, season_id)
    SELECT s * 100 + p, s FROM unnest(${allSeasons}::int[]) s, generate_series(1, 10) p`;
  await t.sql`INSERT INTO dungeon (id, name) SELECT d, 'Dungeon ' || d FROM generate_series(1, 8) d`;
  await t.sql`INSERT INTO realm (id, name, region) VALUES (1, 'Realm', 'eu')`;
  // The bulk of the rows, their foreign keys checked once after the load (bulk-load.ts).
  await bulkLoad(t.sql, async (bulk) => {
    // Deterministic spread with many ties on level and on score, so the id tie-break matters.
    await bulk`
    INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id,
                                 completed_at, duration_ms, keystone_level, score)
    SELECT gen_random_uuid(), 'eu', s, s * 100 + 1 + (n % 10), 1 + (n / 10) % 8, 1,
           timestamp '2026-01-01' + n * interval '1 minute', 1500000 + n,
           2 + (n::bigint * 7919) % 23, 100 + ((n::bigint * 104729) % 400) / 4.0
    FROM unnest(${allSeasons}::int[]) s, generate_series(1, ${RUNS_PER_SEASON}) n`;
    // Three members per run: character names repeat across runs so a character has a history.
    await bulk`
    INSERT INTO run_group_member (season_id, run_guid, character_name, class_id, spec_id, role)
    SELECT r.season_id, r.run_guid, 'char' || ((r.id * 31 + k * 7) % 4000), k, k * 10,
           CASE k WHEN 1 THEN 'tank' WHEN 2 THEN 'healer' ELSE 'dps' END
    FROM leaderboard_run r, generate_series(1, 3) k
    ON CONFLICT DO NOTHING`;
  });
  // Unranked runs (no level or score): never returned by the ranked reads, never trimmed.
  await t.sql`
    INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id,
                                 completed_at, keystone_level, score)
    VALUES (gen_random_uuid(), 'eu', 2, 201, 1, 1, now(), NULL, 1000),
           (gen_random_uuid(), 'eu', 3, 301, 1, 1, now(), 99, NULL)`;
  // As autovacuum would: statistics, and the visibility map that lets the cleanup index answer
  // the trim from the index alone.
  await t.sql`VACUUM ANALYZE`;
  await refreshTopKeys(t.db, { concurrently: false });
}, 180_000);

describe('topRuns (tables)', () => {
  it('returns the ranking computed independently, for a dungeon and for a period', async () => {
    const runs = await seasonRuns(2);
    const dungeonRows = await topRuns(t.db, { seasonId: 2, dungeonId: 3, limit: 50 });
    expect(dungeonRows.map((r) => r.id)).toEqual(
      ranked(runs.filter((r) => r.dungeonId === 3))
        .slice(0, 50)
        .map((r) => r.id),
    );
    const periodRows = await topRuns(t.db, { seasonId: 2, dungeonId: 1, periodId: 201, limit: 20 });
    expect(periodRows.map((r) => r.id)).toEqual(
      ranked(runs.filter((r) => r.dungeonId === 1 && r.periodId === 201))
        .slice(0, 20)
        .map((r) => r.id),
    );
    expect(periodRows.every((r) => r.keystoneLevel !== null && r.score !== null)).toBe(true);
  });

  it('reads one partition through the season/dungeon index, in rank order', async () => {
    const plan = await explainQuery(t.db, topRunsQuery(t.db, { seasonId: 2, dungeonId: 3 }));
    expect(scannedPartitions(plan, 'leaderboard_run')).toEqual(['leaderboard_run_s2']);
    expect(indexesUsed(plan, 'leaderboard_run')).toEqual(['idx_leaderboard_run_season_dungeon']);
    expect(scanTypes(plan, 'leaderboard_run')).not.toContain('Seq Scan');
    // The index holds the ranking's order (level, score, id): the LIMIT stops after its rows,
    // with no sort that must first read a whole level's runs.
    const nodes = planNodes(plan.plan).map((n) => n['Node Type']);
    expect(nodes.filter((type) => /Sort/.test(type))).toEqual([]);
  });

  it('with a period, reads one partition through an index in rank order', async () => {
    const plan = await explainQuery(
      t.db,
      topRunsQuery(t.db, { seasonId: 4, dungeonId: 2, periodId: 403, limit: 10 }),
    );
    expect(scannedPartitions(plan, 'leaderboard_run')).toEqual(['leaderboard_run_s4']);
    // Both indexes have the keys (season_id, period_id, dungeon_id, keystone_level DESC, score
    // DESC); the cleanup one only adds INCLUDE (id). Either serves the read in rank order.
    const [index] = indexesUsed(plan, 'leaderboard_run');
    expect(['idx_leaderboard_run_season_period_dungeon', 'idx_leaderboard_run_cleanup']).toContain(
      index,
    );
    expect(scanTypes(plan, 'leaderboard_run')).not.toContain('Seq Scan');
  });

  it('reads the DEFAULT partition only, for a season that has no partition yet', async () => {
    const plan = await explainQuery(
      t.db,
      topRunsQuery(t.db, { seasonId: SEASON_IN_DEFAULT, dungeonId: 1 }),
    );
    expect(scannedPartitions(plan, 'leaderboard_run')).toEqual(['leaderboard_run_default']);
    const rows = await topRuns(t.db, { seasonId: SEASON_IN_DEFAULT, dungeonId: 1, limit: 5 });
    const runs = await seasonRuns(SEASON_IN_DEFAULT);
    expect(rows.map((r) => r.id)).toEqual(
      ranked(runs.filter((r) => r.dungeonId === 1))
        .slice(0, 5)
        .map((r) => r.id),
    );
  });

  it('refuses bad input before running anything', async () => {
    expectPgpartsError(
      await rejection(topRuns(t.db, { seasonId: 2, dungeonId: 1, limit: 0 })),
      'invalid-input',
      { message: /invalid input for topRuns:\n {2}- limit:/ },
    );
    expectPgpartsError(
      await rejection(topRuns(t.db, { seasonId: 1.5, dungeonId: 1 } as never)),
      'invalid-input',
      { message: /seasonId/ },
    );
    expectPgpartsError(
      thrown(() => topRunsQuery(t.db, { seasonId: 2, dungeonId: 1, extra: 1 } as never)),
      'invalid-input',
      { message: /Unrecognized key/ },
    );
  });
});

describe('topRunsFromViews', () => {
  it('returns the views rows in rank order, matching the tables', async () => {
    const runs = await seasonRuns(1);
    const group = await topRunsFromViews(t.db, { seasonId: 1, dungeonId: 2, periodId: 105 });
    expect(group.map((r) => r.runId)).toEqual(
      ranked(runs.filter((r) => r.dungeonId === 2 && r.periodId === 105))
        .slice(0, 100)
        .map((r) => r.id),
    );
    const dungeonTop = await topRunsFromViews(t.db, { seasonId: 1, dungeonId: 2, limit: 25 });
    const fromTables = await topRuns(t.db, { seasonId: 1, dungeonId: 2, limit: 25 });
    expect(dungeonTop.map((r) => r.runId)).toEqual(fromTables.map((r) => r.id));
  });

  it('reads each view through its rank index', async () => {
    const group = await explainQuery(
      t.db,
      topRunsFromViewsQuery(t.db, { seasonId: 1, dungeonId: 2, periodId: 105 }),
    );
    expect(indexesUsed(group, 'top_keys_per_group')).toEqual(['top_keys_per_group_rank_idx']);
    const dungeonTop = await explainQuery(
      t.db,
      topRunsFromViewsQuery(t.db, { seasonId: 1, dungeonId: 2 }),
    );
    expect(indexesUsed(dungeonTop, 'top_keys_per_dungeon')).toEqual([
      'top_keys_per_dungeon_rank_idx',
    ]);
  });

  it('refuses a limit beyond what the views keep', async () => {
    expectPgpartsError(
      await rejection(topRunsFromViews(t.db, { seasonId: 1, dungeonId: 2, limit: 101 })),
      'invalid-input',
      { message: /limit/ },
    );
  });
});

describe('runWithMembers', () => {
  it('finds a run and its members with and without the season', async () => {
    const [picked] = await t.sql<{ run_guid: string; id: number }[]>`
      SELECT run_guid, id::int FROM leaderboard_run WHERE season_id = 3 ORDER BY id OFFSET 777 LIMIT 1`;
    const guid = picked?.run_guid as string;
    const expected = await t.sql<{ character_name: string }[]>`
      SELECT character_name FROM run_group_member WHERE run_guid = ${guid} ORDER BY character_name`;
    for (const input of [{ runGuid: guid, seasonId: 3 }, { runGuid: guid }]) {
      const run = await runWithMembers(t.db, input);
      expect(run?.id).toBe(picked?.id);
      expect(run?.seasonId).toBe(3);
      expect(run?.members.map((m) => m.characterName)).toEqual(
        expected.map((m) => m.character_name),
      );
    }
    expect(await runWithMembers(t.db, { runGuid: randomUUID() })).toBeNull();
    expect(await runWithMembers(t.db, { runGuid: guid, seasonId: 2 })).toBeNull();
  });

  it('with the season, reads one partition of each table through its keys', async () => {
    const [picked] = await t.sql<{ run_guid: string }[]>`
      SELECT run_guid FROM leaderboard_run WHERE season_id = 4 LIMIT 1`;
    const guid = picked?.run_guid as string;
    const run = await explainQuery(t.db, runByGuidQuery(t.db, { runGuid: guid, seasonId: 4 }));
    expect(scannedPartitions(run, 'leaderboard_run')).toEqual(['leaderboard_run_s4']);
    // Either index pins the row once the partition is known: the planner picks by size.
    expect(indexesUsed(run, 'leaderboard_run')).toHaveLength(1);
    expect(['leaderboard_run_season_id_run_guid_key', 'idx_leaderboard_run_run_guid']).toContain(
      indexesUsed(run, 'leaderboard_run')[0],
    );
    const members = await explainQuery(t.db, runMembersQuery(t.db, { seasonId: 4, runGuid: guid }));
    expect(scannedPartitions(members, 'run_group_member')).toEqual(['run_group_member_s4']);
    expect(indexesUsed(members, 'run_group_member')).toEqual(['run_group_member_pkey']);
  });

  it('without the season, probes the run_guid index of every partition: it cannot prune', async () => {
    const [picked] = await t.sql<{ run_guid: string }[]>`
      SELECT run_guid FROM leaderboard_run WHERE season_id = 1 LIMIT 1`;
    const plan = await explainQuery(
      t.db,
      runByGuidQuery(t.db, { runGuid: picked?.run_guid as string }),
    );
    expect(scannedPartitions(plan, 'leaderboard_run')).toEqual(ALL_RUN_PARTITIONS);
    expect(indexesUsed(plan, 'leaderboard_run')).toEqual(['idx_leaderboard_run_run_guid']);
    expect(scanTypes(plan, 'leaderboard_run')).not.toContain('Seq Scan');
  });

  it('refuses an ambiguous guid without a season, and a malformed guid', async () => {
    const [picked] = await t.sql<{ run_guid: string }[]>`
      SELECT run_guid FROM leaderboard_run WHERE season_id = 1 LIMIT 1`;
    const guid = picked?.run_guid as string;
    await t.sql`
      INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id, keystone_level, score)
      VALUES (${guid}, 'eu', 4, 401, 1, 1, 2, 1)`;
    expectPgpartsError(await rejection(runWithMembers(t.db, { runGuid: guid })), 'invalid-input', {
      message: /exists in leaderboard_run for seasons \d and \d .*pass seasonId/,
    });
    expect((await runWithMembers(t.db, { runGuid: guid, seasonId: 4 }))?.members).toEqual([]);
    expectPgpartsError(
      await rejection(runWithMembers(t.db, { runGuid: "x' OR 1=1 --" })),
      'invalid-input',
      { message: /runGuid/ },
    );
  });
});

describe('characterRuns', () => {
  it("returns the character's runs of the season, newest first", async () => {
    const expected = await t.sql<{ id: number }[]>`
      SELECT r.id::int FROM leaderboard_run r
      WHERE r.season_id = 2 AND EXISTS (
        SELECT 1 FROM run_group_member m
        WHERE m.season_id = r.season_id AND m.run_guid = r.run_guid AND m.character_name = 'char42')
      ORDER BY r.completed_at DESC, r.id DESC`;
    expect(expected.length).toBeGreaterThan(5);
    const rows = await characterRuns(t.db, { seasonId: 2, characterName: 'char42', limit: 1000 });
    expect(rows.map((r) => r.id)).toEqual(expected.map((r) => r.id));
    expect(rows.every((r) => r.seasonId === 2 && r.role !== null)).toBe(true);
  });

  it('reads one partition of each table, through the character index and the run key', async () => {
    const plan = await explainQuery(
      t.db,
      characterRunsQuery(t.db, { seasonId: 2, characterName: 'char42' }),
    );
    expect(scannedPartitions(plan, 'run_group_member')).toEqual(['run_group_member_s2']);
    expect(indexesUsed(plan, 'run_group_member')).toEqual([
      'idx_run_group_member_season_character',
    ]);
    expect(scannedPartitions(plan, 'leaderboard_run')).toEqual(['leaderboard_run_s2']);
    expect(scanTypes(plan, 'leaderboard_run')).not.toContain('Seq Scan');
  });
});

describe('trimRuns', () => {
  it('plans each batch on one season partition, ranking through the cleanup index', async () => {
    const plan = await explainQuery(t.db, trimRunsBatchQuery({ seasonId: 3, keep: 10 }));
    expect(scannedPartitions(plan, 'leaderboard_run')).toEqual(['leaderboard_run_s3']);
    expect(scannedPartitions(plan, 'run_group_member')).toEqual(['run_group_member_s3']);
    const [version] = await t.sql<
      { v: number }[]
    >`SELECT current_setting('server_version_num')::int AS v`;
    if ((version?.v ?? 0) >= 160000) {
      // 16+: the ranking reads the cleanup index in order (ties on id sorted incrementally).
      const ranking = plan.scans.find((s) => s.rootIndex === 'idx_leaderboard_run_cleanup');
      expect(ranking?.nodeType).toBe('Index Only Scan');
      expect(indexesUsed(plan, 'leaderboard_run')).toEqual([
        'idx_leaderboard_run_cleanup',
        'leaderboard_run_pkey',
      ]);
      expect(scanTypes(plan, 'leaderboard_run')).not.toContain('Seq Scan');
    } else {
      // 14 and 15 rank by reading the one season partition and sorting it: the tie-break on id
      // is only an INCLUDE column of the cleanup index. Still one partition, still no join.
      expect(scanTypes(plan, 'leaderboard_run')).toContain('Seq Scan');
    }
    // The DELETE finds the doomed ids through the primary key, not by joining the partition.
    expect(indexesUsed(plan, 'leaderboard_run')).toContain('leaderboard_run_pkey');
  });

  it('keeps the best N per (period, dungeon), deletes the rest in batches, touches nothing else', async () => {
    const keep = 10;
    const runs = await seasonRuns(3);
    const survivors = new Set<number>();
    const groups = new Map<string, Run[]>();
    for (const r of runs) {
      const key = `${r.periodId}/${r.dungeonId}`;
      groups.set(key, [...(groups.get(key) ?? []), r]);
    }
    for (const group of groups.values()) {
      for (const r of ranked(group).slice(0, keep)) survivors.add(r.id);
      for (const r of group) if (r.keystoneLevel === null || r.score === null) survivors.add(r.id);
    }
    const otherRuns = await fingerprint('leaderboard_run', sql`season_id <> 3`);
    const otherMembers = await fingerprint('run_group_member', sql`season_id <> 3`);
    const keptMembers = await fingerprint(
      'run_group_member',
      sql`season_id = 3 AND run_guid IN (SELECT run_guid FROM leaderboard_run
           WHERE season_id = 3 AND id = ANY(${`{${[...survivors].join(',')}}`}::bigint[]))`,
    );
    const membersBefore = await fingerprint('run_group_member', sql`season_id = 3`);

    const result = await trimRuns(t.db, { seasonId: 3, keep, batchSize: 2_000 });

    expect(result.runsDeleted).toBe(runs.length - survivors.size);
    expect(result.batches).toBe(Math.floor(result.runsDeleted / 2_000) + 1);
    const left = await seasonRuns(3);
    expect(left.map((r) => r.id).sort((a, b) => a - b)).toEqual(
      [...survivors].sort((a, b) => a - b),
    );
    expect(await fingerprint('leaderboard_run', sql`season_id <> 3`)).toEqual(otherRuns);
    expect(await fingerprint('run_group_member', sql`season_id <> 3`)).toEqual(otherMembers);
    expect(await fingerprint('run_group_member', sql`season_id = 3`)).toEqual(keptMembers);
    expect(result.membersDeleted).toBe((membersBefore?.n ?? 0) - (keptMembers?.n ?? 0));

    const again = await trimRuns(t.db, { seasonId: 3, keep });
    expect(again).toEqual({ runsDeleted: 0, membersDeleted: 0, batches: 1 });
  });

  it.each([
    ['', {}],
    [', on a client that camelCases column names', { transform: postgres.camel }],
  ] as const)(
    "inside a caller's transaction%s, leaves the session's plan_cache_mode as it found it",
    async (_label, options) => {
      const before = await fingerprint('leaderboard_run', sql`season_id = 2`);
      const client = t.connect({ max: 1, ...options });
      const seen = await drizzle(client)
        .transaction(async (tx) => {
          await tx.execute(sql`SET LOCAL plan_cache_mode = force_custom_plan`);
          const result = await trimRuns(tx, { seasonId: 2, keep: 5, batchSize: 50 });
          const [row] = rowsOf<{ mode: string }>(
            await tx.execute(sql`SELECT current_setting('plan_cache_mode') AS mode`),
          );
          throw Object.assign(new Error('roll back'), { result, mode: row?.mode });
        })
        .catch(
          (error: { result?: { runsDeleted: number; batches: number }; mode?: string }) => error,
        );
      await client.end({ timeout: 1 });
      expect(seen.mode).toBe('force_custom_plan');
      expect(seen.result?.runsDeleted).toBeGreaterThan(50);
      expect(seen.result?.batches).toBeGreaterThan(1);
      expect(await fingerprint('leaderboard_run', sql`season_id = 2`)).toEqual(before);
    },
  );

  it('refuses a trim without a season', async () => {
    expectPgpartsError(await rejection(trimRuns(t.db, { keep: 10 } as never)), 'invalid-input', {
      message: /invalid input for trimRuns:\n {2}- seasonId:/,
    });
  });
});

describe('pruning under a generic plan (prepared statement, parameters unknown at plan time)', () => {
  it('removes the other seasons at executor start', async () => {
    const client = t.connect({ max: 1 });
    await client`SET plan_cache_mode = force_generic_plan`;
    const query = topRunsQuery(t.db, { seasonId: 2, dungeonId: 3, limit: 5 }).toSQL();
    await client.unsafe(`PREPARE top_runs AS ${query.sql}`);
    const [row] = await client.unsafe(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) EXECUTE top_runs(2, 3, 5)`,
    );
    const text = JSON.stringify(row);
    expect(text).toContain('"Subplans Removed":4');
    const relations = [...text.matchAll(/"Relation Name":"(\w+)"/g)].map((m) => m[1]);
    expect([...new Set(relations)]).toEqual(['leaderboard_run_s2']);
    await client.end();
  });
});
