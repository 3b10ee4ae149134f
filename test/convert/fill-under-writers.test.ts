import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  type BatchProgress,
  convertBackfill,
  convertFill,
  convertPrep,
  type FillResult,
} from '../../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { leaderboardSides } from './checksums.js';
import { startWriters, type Writer } from './writers.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('leaderboard');

let fill: FillResult;
let committedWhenFillEnded = 0;
let writers: Writer[] = [];
const replays: BatchProgress[] = [];

const committed = (ws: readonly Writer[]) => ws.reduce((n, w) => n + w.ids.length, 0);

beforeAll(async () => {
  await buildLegacyLeaderboard(t.sql, { runs: 3_000, seasons: 3 });
  await convertPrep(t.db, target);
  await convertBackfill(t.db, target);
  const app = startWriters(
    () => t.connect({ max: 1 }),
    3,
    3,
    () => false,
  );
  // Writers faster than the replay, whatever the machine: after each replay batch, wait until
  // the log (counted by the server) holds more than two batches. A replay that waited for an
  // empty log, or for a short batch, would never end.
  const logged = async () => {
    const [row] = await t.sql`SELECT count(*)::int AS n FROM pgparts_convert.changes`;
    return row?.n ?? 0;
  };
  fill = await convertFill(t.db, target, {
    batchSize: 200,
    onProgress: async (p) => {
      if (p.step !== 'replay') return;
      replays.push(p);
      while ((await logged()) <= 400 && app.writers.every((w) => w.errors.length === 0)) {
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  });
  committedWhenFillEnded = committed(app.writers);
  // The writers go on after the fill returned: it did not wait for them to stop.
  while (
    committed(app.writers) < committedWhenFillEnded + 30 &&
    app.writers.every((w) => w.errors.length === 0)
  ) {
    await new Promise((r) => setTimeout(r, 20));
  }
  writers = await app.stop();
  // The operator's catch-up after the writers are done; then both sides must be equal.
  await convertFill(t.db, target, { batchSize: 1_000 });
}, 240_000);

describe('fill while 3 writers keep inserting, updating and deleting', () => {
  it('finishes while they write: they commit more runs after it returned', () => {
    expect(writers.flatMap((w) => w.errors).map(String)).toEqual([]);
    expect(fill.changesReplayed).toBeGreaterThan(0);
    // It ended with work left in the log, which the next catch-up (or the swap) takes.
    expect(replays.at(-1)?.behind).toBeGreaterThan(200);
    expect(committed(writers)).toBeGreaterThanOrEqual(committedWhenFillEnded + 30);
  });

  it('reports the replay honestly: changes behind and a rate, never a fixed 100%', () => {
    expect(replays.length).toBeGreaterThan(0);
    for (const p of replays) {
      expect(p.behind).toBeGreaterThanOrEqual(0);
      expect(p.total).toBe(p.done + (p.behind ?? 0));
      expect(p.ratePerSecond).toBeGreaterThan(0);
    }
  });

  it('leaves the twins equal to the legacy tables: counts and checksums, every writer row present', async () => {
    const sides = await leaderboardSides(t.sql);
    expect(sides.twin).toEqual(sides.legacy);
    const live = writers.flatMap((w) => [...w.live.values()]);
    const [found] =
      await t.sql`SELECT count(*)::int AS n FROM pgparts_leaderboard_new.leaderboard_run r
      JOIN jsonb_to_recordset(${JSON.stringify(live.map((r) => ({ g: r.runGuid, s: r.score })))}::jsonb) x(g uuid, s float8)
        ON r.run_guid = x.g AND r.score = x.s`;
    expect(found?.n).toBe(live.length);
    const [members] =
      await t.sql`SELECT count(*)::int AS n FROM pgparts_leaderboard_new.run_group_member m
      WHERE m.run_guid = ANY(${live.map((r) => r.runGuid)}::uuid[])`;
    expect(members?.n).toBe(live.length * 2);
  });
});
