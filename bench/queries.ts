import {
  killsInSystem,
  killsInvolving,
  killsOfShipType,
  killsWithEnrichment,
  killsWithModuleTags,
  killsWorthAtLeast,
  latestKillmails,
  matchSurveillanceProfiles,
  suggestNames,
  utcDay,
} from '../src/domains/killmails/index.js';
import {
  characterRuns,
  runWithMembers,
  topRuns,
  topRunsFromViews,
  trimRunsBatchQuery,
} from '../src/domains/leaderboard/index.js';
import type { QueryOptions } from '../src/query/prepared.js';
import type { AnyPgDatabase } from '../src/run/database.js';
import { rowsOf } from '../src/run/rows.js';
import { BenchError } from './bench-error.js';
import { type Params, pick } from './params.js';

/** A hot query: one call with the i-th parameters; returns how many rows it produced. */
export interface BenchQuery {
  name: string;
  /** Filters on the partition key (time or season): the ratio target applies. */
  prunes: boolean;
  /** p95 target in ms. */
  targetMs: number;
  /**
   * One call, sent as `o` says (unnamed, or a named prepared statement). Times only part of the
   * call (the trim statement, not its rollback); else undefined.
   */
  run(
    db: AnyPgDatabase,
    p: Params,
    i: number,
    o: QueryOptions,
  ): Promise<{ rows: number; ms?: number }>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const count = (rows: unknown[] | null) => ({ rows: rows ? rows.length : 0 });

/** Half the calls use the newest window ending at the data's clock, half a past day. */
function window(p: Params, i: number, spanMs: number) {
  if (i % 2 === 0) return { from: new Date(p.now.getTime() - spanMs), to: p.now };
  const k = pick(p.killmails, i).killmailTime;
  return { from: new Date(k.getTime() - spanMs / 2), to: new Date(k.getTime() + spanMs / 2) };
}

const ROLLBACK = new BenchError('bench: rollback');

export const QUERIES: BenchQuery[] = [
  {
    name: 'topRuns (season, dungeon[, period])',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) => {
      const pr = pick(p.periods, i);
      return count(
        await topRuns(
          db,
          {
            seasonId: pr.seasonId,
            dungeonId: pick(p.dungeons, i * 7),
            ...(i % 2 === 0 ? { periodId: pr.periodId } : {}),
            limit: 100,
          },
          o,
        ),
      );
    },
  },
  {
    name: 'topRunsFromViews',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) => {
      const pr = pick(p.periods, i);
      return count(
        await topRunsFromViews(
          db,
          {
            seasonId: pr.seasonId,
            dungeonId: pick(p.dungeons, i * 7),
            ...(i % 2 === 0 ? { periodId: pr.periodId } : {}),
          },
          o,
        ),
      );
    },
  },
  {
    name: 'runWithMembers (with season)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) => {
      const r = pick(p.runs, i);
      const run = await runWithMembers(db, { runGuid: r.runGuid, seasonId: r.seasonId }, o);
      return { rows: run ? 1 + run.members.length : 0 };
    },
  },
  {
    name: 'runWithMembers (guid only)',
    prunes: false,
    targetMs: 10,
    run: async (db, p, i, o) => {
      const run = await runWithMembers(db, { runGuid: pick(p.runs, i).runGuid }, o);
      return { rows: run ? 1 + run.members.length : 0 };
    },
  },
  {
    name: 'characterRuns',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await characterRuns(db, { ...pick(p.players, i), limit: 100 }, o)),
  },
  {
    name: 'trimRuns batch (rolled back)',
    prunes: true,
    targetMs: 10,
    // No prepare option: the batch sets plan_cache_mode for its cascade itself (trim-runs.ts).
    run: async (db, p, i) => {
      const pr = pick(p.periods, i);
      let ms = 0;
      let rows = 0;
      await db
        .transaction(async (tx) => {
          const started = performance.now();
          const result = await tx.execute(
            trimRunsBatchQuery({
              seasonId: pr.seasonId,
              periodId: pr.periodId,
              dungeonId: pick(p.dungeons, i * 7),
              keep: 100,
              batchSize: 5_000,
            }),
          );
          ms = performance.now() - started;
          rows = Number(rowsOf<{ runs: number }>(result)[0]?.runs ?? 0);
          throw ROLLBACK;
        })
        .catch((error: unknown) => {
          if (error !== ROLLBACK) throw error;
        });
      return { rows, ms };
    },
  },
  {
    name: 'latestKillmails (first page / cursor)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) => {
      const k = pick(p.killmails, i);
      return count(await latestKillmails(db, i % 2 === 0 ? {} : { before: k }, o));
    },
  },
  {
    name: 'killsInSystem (last hour / a past hour)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await killsInSystem(db, { systemId: pick(p.systems, i), ...window(p, i, HOUR) }, o)),
  },
  {
    name: 'killsOfShipType (today / a past day)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) => {
      const w = i % 2 === 0 ? utcDay(p.now) : window(p, i, DAY);
      return count(await killsOfShipType(db, { shipTypeId: pick(p.shipTypes, i), ...w }, o));
    },
  },
  {
    name: 'killsInvolving character',
    prunes: false,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await killsInvolving(db, { kind: 'character', id: pick(p.characters, i) }, o)),
  },
  {
    name: 'killsInvolving corporation',
    prunes: false,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await killsInvolving(db, { kind: 'corporation', id: pick(p.corporations, i) }, o)),
  },
  {
    name: 'killsInvolving alliance',
    prunes: false,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await killsInvolving(db, { kind: 'alliance', id: pick(p.alliances, i) }, o)),
  },
  {
    name: 'killsWorthAtLeast (24 h)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await killsWorthAtLeast(db, { minIsk: pick(p.minIsk, i), ...window(p, i, DAY) }, o)),
  },
  {
    name: 'killsWithModuleTags (24 h)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(await killsWithModuleTags(db, { tags: pick(p.tags, i), ...window(p, i, DAY) }, o)),
  },
  {
    name: 'killsWithEnrichment (24 h)',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) =>
      count(
        await killsWithEnrichment(db, { fragment: pick(p.fragments, i), ...window(p, i, DAY) }, o),
      ),
  },
  {
    name: 'suggestNames (4 kinds)',
    prunes: false,
    targetMs: 20,
    run: async (db, p, i) => count(await suggestNames(db, { query: pick(p.names, i) })),
  },
  {
    name: 'matchSurveillanceProfiles',
    prunes: true,
    targetMs: 10,
    run: async (db, p, i, o) => count(await matchSurveillanceProfiles(db, pick(p.killmails, i), o)),
  },
];
