import { createHash, randomUUID } from 'node:crypto';
import type postgres from 'postgres';
import type { TestDatabase } from './test-database.js';

/**
 * An application writing through the leaderboard parents while pgparts works: three shapes,
 * each on its own real connections, as an app's pool would run them.
 *
 * - runs-and-members: a run, then its five members, in one transaction (the order an app
 *   writes: the referenced table first, then the referencing one);
 * - members-only: a member added to an existing run (the referencing table first; its foreign
 *   key check then reads the runs);
 * - deletes: an existing run deleted (ON DELETE CASCADE deletes its members).
 *
 * Every transaction the server acknowledged is in the ledger, so a test can prove each is
 * present (or absent, for deletes) afterwards. Deadlocks (40P01) and other errors are counted,
 * never retried. Lock waits are measured by the server: a sampler reads pg_locks.waitstart of
 * the writers' backends (found by application_name).
 */

export type WriterShape = 'runs-and-members' | 'members-only' | 'deletes';

export const APP_WRITER = 'pgparts-test-app-writer';

export interface WriterReport {
  transactions: Record<WriterShape, number>;
  deadlocks: number;
  otherErrors: string[];
  /** The longest lock wait of any writer the sampler saw, ms (server clock). */
  longestLockWaitMs: number;
  samples: number;
}

interface Ledger {
  runs: { guid: string; season: number }[];
  members: { guid: string; season: number; name: string }[];
  deleted: { guid: string; season: number }[];
}

export interface AppWriters {
  stop(): Promise<WriterReport>;
  /** Checks every acknowledged write against the tables; returns what does not match. */
  verify(sql: postgres.Sql): Promise<string[]>;
}

/** Runs (with five members each) the writers work on: members-only adds to them, deletes remove them. */
export async function seedRuns(sql: postgres.Sql, season: number, n: number): Promise<string[]> {
  const guids = Array.from({ length: n }, () => randomUUID());
  await sql`
    WITH r AS (
      INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
      SELECT g::uuid, 'eu', ${season}, 1, now(), 1, 10, 100 FROM unnest(${guids}::text[]) g
      RETURNING season_id, run_guid)
    INSERT INTO run_group_member (season_id, run_guid, character_name)
    SELECT r.season_id, r.run_guid, 'seed' || k FROM r, generate_series(1, 5) k`;
  return guids;
}

function digest(lines: string[]): string {
  return createHash('md5')
    .update([...lines].sort().join('\n'))
    .digest('hex');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function startAppWriters(
  t: TestDatabase,
  options: {
    /** Seasons the writers write to, round-robin. */
    seasons: number[];
    shapes: WriterShape[];
    /** Connections per shape. Default 3. */
    perShape?: number;
    /** Runs for members-only writers, and runs for deletes (disjoint), by season. */
    memberTargets: { guid: string; season: number }[];
    deleteTargets: { guid: string; season: number }[];
  },
): AppWriters {
  const ledger: Ledger = { runs: [], members: [], deleted: [] };
  const transactions: Record<WriterShape, number> = {
    'runs-and-members': 0,
    'members-only': 0,
    deletes: 0,
  };
  let deadlocks = 0;
  const otherErrors: string[] = [];
  let writing = true;
  let counter = 0;
  const deletable = [...options.deleteTargets];

  const once = async (sql: postgres.Sql, shape: WriterShape, i: number): Promise<void> => {
    const season = options.seasons[i % options.seasons.length] as number;
    if (shape === 'runs-and-members') {
      const guid = randomUUID();
      await sql.begin(async (tx) => {
        await tx`INSERT INTO leaderboard_run (run_guid, region, season_id, dungeon_id, completed_at, duration_ms, keystone_level, score)
                 VALUES (${guid}, 'us', ${season}, 2, now(), ${i}, 10, 200)`;
        await tx`INSERT INTO run_group_member (season_id, run_guid, character_name)
                 SELECT ${season}, ${guid}, 'w' || k FROM generate_series(1, 5) k`;
      });
      ledger.runs.push({ guid, season });
    } else if (shape === 'members-only') {
      const run = options.memberTargets[i % options.memberTargets.length];
      if (!run) return;
      counter += 1;
      const name = `m${counter}`;
      await sql`INSERT INTO run_group_member (season_id, run_guid, character_name)
                VALUES (${run.season}, ${run.guid}, ${name})`;
      ledger.members.push({ ...run, name });
    } else {
      const run = deletable.shift();
      if (!run) {
        await sleep(20);
        return;
      }
      await sql`DELETE FROM leaderboard_run WHERE season_id = ${run.season} AND run_guid = ${run.guid}`;
      ledger.deleted.push(run);
    }
    transactions[shape] += 1;
  };

  const loops: Promise<void>[] = [];
  const clients: postgres.Sql[] = [];
  for (const shape of options.shapes) {
    for (let c = 0; c < (options.perShape ?? 3); c += 1) {
      const sql = t.connect({ max: 1, connection: { application_name: APP_WRITER } });
      clients.push(sql);
      loops.push(
        (async () => {
          for (let i = c; writing; i += 1) {
            try {
              await once(sql, shape, i);
            } catch (error) {
              if ((error as { code?: string }).code === '40P01') deadlocks += 1;
              else otherErrors.push(`${shape}: ${(error as Error).message}`);
            }
            await sleep(2);
          }
        })(),
      );
    }
  }

  const sampler = t.connect({ max: 1 });
  let longest = 0;
  let samples = 0;
  const sampling = (async () => {
    while (writing) {
      const [row] = await sampler<{ ms: number | null }[]>`
        SELECT max(extract(epoch FROM clock_timestamp() - l.waitstart) * 1000)::float8 AS ms
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE NOT l.granted AND a.datname = current_database() AND a.application_name = ${APP_WRITER}`;
      samples += 1;
      longest = Math.max(longest, Number(row?.ms ?? 0));
      await sleep(5);
    }
  })();

  return {
    async stop() {
      writing = false;
      await Promise.all([...loops, sampling]);
      await Promise.all([...clients, sampler].map((c) => c.end({ timeout: 5 })));
      return {
        transactions,
        deadlocks,
        otherErrors,
        longestLockWaitMs: Math.round(longest),
        samples,
      };
    },
    async verify(sql) {
      const problems: string[] = [];
      const runGuids = ledger.runs.map((r) => r.guid);
      const [runs] = await sql<{ n: number; d: string | null }[]>`
        SELECT count(*)::int AS n, string_agg(run_guid::text || ':' || season_id, E'\n' ORDER BY run_guid::text || ':' || season_id) AS d
        FROM leaderboard_run WHERE run_guid = ANY(${runGuids}::uuid[])`;
      const expectedRuns = digest(ledger.runs.map((r) => `${r.guid}:${r.season}`));
      if (runs?.n !== runGuids.length) problems.push(`runs: ${runs?.n} of ${runGuids.length}`);
      else if (runGuids.length > 0 && digest((runs.d ?? '').split('\n')) !== expectedRuns)
        problems.push('runs: checksum differs');
      const [members] = await sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM run_group_member WHERE run_guid = ANY(${runGuids}::uuid[])`;
      if (members?.n !== runGuids.length * 5)
        problems.push(`members of written runs: ${members?.n} of ${runGuids.length * 5}`);
      const names = ledger.members.map((m) => `${m.guid}:${m.name}`);
      const [added] = await sql<{ n: number; d: string | null }[]>`
        SELECT count(*)::int AS n, string_agg(run_guid::text || ':' || character_name, E'\n') AS d
        FROM run_group_member WHERE run_guid::text || ':' || character_name = ANY(${names}::text[])`;
      if (added?.n !== names.length) problems.push(`added members: ${added?.n} of ${names.length}`);
      else if (names.length > 0 && digest((added.d ?? '').split('\n')) !== digest(names))
        problems.push('added members: checksum differs');
      const gone = ledger.deleted.map((r) => r.guid);
      const [left] = await sql<{ runs: number; members: number }[]>`
        SELECT (SELECT count(*) FROM leaderboard_run WHERE run_guid = ANY(${gone}::uuid[]))::int AS runs,
               (SELECT count(*) FROM run_group_member WHERE run_guid = ANY(${gone}::uuid[]))::int AS members`;
      if (left?.runs || left?.members)
        problems.push(`deleted runs still there: ${left.runs} runs, ${left.members} members`);
      return problems;
    },
  };
}
