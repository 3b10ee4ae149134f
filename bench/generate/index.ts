import type postgres from 'postgres';
import { refreshTopKeys } from '../../src/domains/leaderboard/views.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { migrate } from '../../src/migrations/migrate.js';
import type { AnyPgDatabase } from '../../src/run/database.js';
import { maintain } from '../../src/run/maintain.js';
import { BenchError } from '../bench-error.js';
import { progressBar, step } from '../progress.js';
import { PARTITIONED_TABLES } from '../twin.js';
import { createSecondaryIndexes, dropSecondaryIndexes } from './deferred-indexes.js';
import { generateKillmails } from './killmails.js';
import { generateLeaderboard, generateSeasons } from './leaderboard.js';
import { generateLookups } from './lookups.js';
import { createNameFunction, dropNameFunction } from './names.js';
import type { Scale } from './scale.js';
import { generateSurveillance } from './surveillance.js';

/**
 * The partitioned database: migrate(), seasons, maintain() (season partitions; the 13 months
 * exist from the migration), then every table filled set-based (secondary indexes built after
 * the load), the views refreshed. `now` is
 * the data's clock: the newest killmail is just before it.
 */
export async function generateAll(
  sql: postgres.Sql,
  db: AnyPgDatabase,
  s: Scale,
  now: Date,
): Promise<void> {
  await step('migrate', () => migrate(db));
  await createNameFunction(db);
  await generateSeasons(sql, s, now);
  const maintained = await step('maintain (season partitions)', () =>
    maintain(db, { families: builtInFamilies }),
  );
  if (!maintained.ok)
    throw new BenchError(`bench: maintain failed: ${JSON.stringify(maintained.results)}`);
  const lookups = progressBar('lookup names', 3);
  await generateLookups(sql, s, lookups);
  lookups.done(`${s.characters + s.corporations + s.alliances + s.systems} names`);
  const deferred = await step('drop secondary indexes for the load', () =>
    dropSecondaryIndexes(sql, PARTITIONED_TABLES),
  );
  const runs = progressBar('leaderboard runs + members', s.seasons);
  await generateLeaderboard(sql, s, runs);
  runs.done(`${s.runs} runs, ${s.runs * s.membersPerRun} members`);
  const kills = progressBar('killmails + enrichment + participants', s.killmails);
  await generateKillmails(sql, s, now, kills);
  kills.done(`${s.killmails} killmails`);
  await step(`build ${deferred.length} secondary indexes`, () =>
    createSecondaryIndexes(sql, deferred),
  );
  await step('surveillance profiles and filters', () => generateSurveillance(sql, s));
  await step('refresh top_keys views', () => refreshTopKeys(db, { concurrently: false }));
  await dropNameFunction(db);
}
