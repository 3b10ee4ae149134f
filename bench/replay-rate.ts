/**
 * `npm run bench:replay -- [--seconds N] [--writers 1,2,3,4] [--runs-per-transaction 20]`: the sustained write rate
 * the conversion's replay keeps up with. A legacy leaderboard is prepped, backfilled and filled
 * (capture triggers on); then, for each number of writers (each inserts a run and two members
 * per transaction, rewrites a score every 5th and deletes a run every 7th: the writers of
 * test/convert/writers.ts), the writers run for N seconds while the fill's catch-up runs in a
 * loop. Reported per level: rows written per second, changes replayed per second, and the
 * change log's size at the start and end of the window. The replay keeps up when the log does
 * not grow over the window (within one batch). The load average is printed with each level: on a
 * shared machine the replay competes with other work for the same cores. Figures only; nothing
 * here is asserted.
 */
import { loadavg } from 'node:os';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startEmbeddedServer } from '../scripts/embedded-server.js';
import { builtInTarget } from '../src/domains/presets.js';
import { catchUp } from '../src/ops/convert/fill.js';
import { convertBackfill, convertFill, convertPrep } from '../src/ops/convert/index.js';
import { readLayouts } from '../src/ops/convert/layout.js';
import { sides } from '../src/ops/convert/names.js';
import { pendingChanges } from '../src/ops/convert/online-copy.js';
import type { AnyPgDatabase } from '../src/run/database.js';
import { startWriters } from '../test/convert/writers.js';
import { buildLegacyLeaderboard } from '../test/support/legacy-fixtures.js';
import { BENCH_SETTINGS } from './server.js';

function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const seconds = Number(argument('seconds', '8'));
const levels = argument('writers', '1,2,3,4').split(',').map(Number);
/** Runs per writer transaction (each with two members): 1 is the chatty app of the tests. */
const runsPerTransaction = Number(argument('runs-per-transaction', '20'));
const BATCH = 10_000;

/** Writers that insert `runs` runs and their members per statement, as fast as they can. */
function bulkWriters(count: number, runs: number) {
  let stopping = false;
  const errors: unknown[] = [];
  const loops = Array.from({ length: count }, async (_, w) => {
    const c = postgres(url, { max: 1, onnotice: () => {} });
    for (let i = 0; !stopping; i++) {
      const season = 1 + ((w + i) % 4);
      try {
        await c`WITH r AS (
            INSERT INTO leaderboard_run (run_guid, region, season_id, period_id, dungeon_id, realm_id,
                                         completed_at, duration_ms, keystone_level, score)
            SELECT gen_random_uuid(), 'us', ${season}, ${(season - 1) * 4 + 1}, 1 + g % 8, 1, now(),
                   1000000 + g, 30, random() * 1000 FROM generate_series(1, ${runs}) g
            RETURNING run_guid, season_id)
          INSERT INTO run_group_member (season_id, run_guid, character_name, class_id, role)
          SELECT r.season_id, r.run_guid, n, 1, n FROM r, unnest(ARRAY['tank', 'healer']) n`;
        if (i % 5 === 4) {
          await c`UPDATE leaderboard_run SET score = score + 0.5
                  WHERE id = (SELECT max(id) - ${runs * 3} FROM leaderboard_run)`;
        }
      } catch (error) {
        errors.push(error);
        if (errors.length > 20) break;
      }
    }
    await c.end({ timeout: 5 });
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return errors;
    },
  };
}

const server = await startEmbeddedServer({
  purpose: 'bench-replay',
  settings: { ...BENCH_SETTINGS, shared_buffers: '512MB' },
});
const url = server.url;
const sql = postgres(url, { max: 4, onnotice: () => {} });
const db = drizzle(sql) as unknown as AnyPgDatabase;
try {
  const target = builtInTarget('leaderboard');
  await buildLegacyLeaderboard(sql, { runs: 50_000, seasons: 4 });
  await convertPrep(db, target);
  await convertBackfill(db, target);
  await convertFill(db, target);
  const s = sides(target.family, false);
  const layouts = await readLayouts(db, target, s);
  const rows: string[] = [];
  for (const writers of levels) {
    const app =
      runsPerTransaction > 1
        ? bulkWriters(writers, runsPerTransaction)
        : (() => {
            const w = startWriters(
              () => postgres(url, { max: 1, onnotice: () => {} }),
              writers,
              4,
              () => false,
            );
            return { stop: async () => (await w.stop()).flatMap((x) => x.errors) };
          })();
    await new Promise((r) => setTimeout(r, 1000)); // writers up to speed
    const logStart = await pendingChanges(db, target.family, 'forward');
    const [startRows] = await sql<
      { n: number }[]
    >`SELECT last_value::float8 AS n FROM pgparts_convert.changes_id_seq`;
    const started = performance.now();
    let replayed = 0;
    while (performance.now() - started < seconds * 1000) {
      replayed += await catchUp(db, target, layouts, 'forward', s, BATCH);
    }
    const elapsed = (performance.now() - started) / 1000;
    const [endRows] = await sql<
      { n: number }[]
    >`SELECT last_value::float8 AS n FROM pgparts_convert.changes_id_seq`;
    const logEnd = await pendingChanges(db, target.family, 'forward');
    const errors = (await app.stop()).length;
    await catchUp(db, target, layouts, 'forward', s, BATCH);
    const written = (Number(endRows?.n) - Number(startRows?.n)) / elapsed;
    const kept = logEnd <= logStart + BATCH;
    const line =
      `${writers} writer(s): ${Math.round(written)} rows written/s, ${Math.round(replayed / elapsed)} changes replayed/s, ` +
      `log ${logStart} -> ${logEnd} over ${elapsed.toFixed(1)} s: ${kept ? 'kept up' : 'FELL BEHIND'}` +
      (errors > 0 ? ` (${errors} writer errors)` : '') +
      ` (load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}: the machine is shared)`;
    console.log(line);
    rows.push(line);
  }
  console.log(
    `(${runsPerTransaction} run(s) and ${2 * runsPerTransaction} members per writer transaction; batch ${BATCH})`,
  );
} finally {
  await sql.end({ timeout: 5 });
  await server.stop();
}
