import { randomUUID } from 'node:crypto';
import type postgres from 'postgres';

/**
 * The app, still writing while the conversion runs: each writer has its own connection and
 * inserts runs (ids from the sequence) with two members, updates and deletes some of its own runs.
 * Every statement names its columns, so it works on the legacy tables (after prep added
 * season_id to the members) and on the partitioned ones alike.
 */
export interface WrittenRun {
  id: number;
  runGuid: string;
  seasonId: number;
  score: number;
  /** written after the swap committed */
  afterSwap: boolean;
}

export interface Writer {
  /** runs this writer inserted and did not delete, by run_guid */
  live: Map<string, WrittenRun>;
  /** ids in the order the writer received them */
  ids: number[];
  deleted: number;
  errors: unknown[];
}

export function startWriters(
  connect: () => postgres.Sql,
  count: number,
  seasons: number,
  swapped: () => boolean,
) {
  let stopping = false;
  const writers: Writer[] = [];
  const loops = Array.from({ length: count }, async (_, w) => {
    const sql = connect();
    const me: Writer = { live: new Map(), ids: [], deleted: 0, errors: [] };
    writers.push(me);
    for (let i = 0; !stopping; i++) {
      try {
        const afterSwap = swapped();
        const runGuid = randomUUID();
        const seasonId = 1 + ((w + i) % seasons);
        const score = 1000 + w * 10_000 + i;
        await sql.begin(async (tx) => {
          const [row] = await tx`
            INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id,
                                         completed_at, duration_ms, keystone_level, score)
            VALUES (${runGuid}, 'us', ${seasonId}, ${(seasonId - 1) * 4 + 1}, ${1 + (i % 8)}, 1,
                    now(), ${1_000_000 + i}, ${30 + (i % 5)}, ${score})
            RETURNING id`;
          const id = Number(row?.id);
          for (const name of ['tank', 'healer']) {
            await tx`INSERT INTO run_group_member (season_id, run_guid, character_name, class_id, role)
                     VALUES (${seasonId}, ${runGuid}, ${`w${w}_${i}_${name}`}, 1, ${name})`;
          }
          me.ids.push(id);
          me.live.set(runGuid, { id, runGuid, seasonId, score, afterSwap });
        });
        if (i % 5 === 4) {
          // Rewrite the score of an earlier run: an update the copy must not miss.
          const earlier = [...me.live.values()][Math.floor(me.live.size / 2)];
          if (earlier) {
            earlier.score += 0.5;
            await sql`UPDATE leaderboard_run SET score = ${earlier.score} WHERE run_guid = ${earlier.runGuid}`;
          }
        }
        if (i % 7 === 6) {
          // Delete an earlier run and its members (the legacy FK has no cascade).
          const victim = [...me.live.values()][0];
          if (victim) {
            await sql.begin(async (tx) => {
              await tx`DELETE FROM run_group_member WHERE run_guid = ${victim.runGuid}`;
              await tx`DELETE FROM leaderboard_run WHERE run_guid = ${victim.runGuid}`;
            });
            me.live.delete(victim.runGuid);
            me.deleted += 1;
          }
        }
      } catch (error) {
        me.errors.push(error);
        if (me.errors.length > 20) break;
      }
    }
    await sql.end({ timeout: 5 });
  });
  return {
    writers,
    async stop(): Promise<Writer[]> {
      stopping = true;
      await Promise.all(loops);
      return writers;
    },
  };
}
