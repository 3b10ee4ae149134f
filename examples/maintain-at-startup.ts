/**
 * Keeping partitions from an app's start-up. Every instance calls `maintain(db, { families })` before it
 * serves: the first to take the maintenance lock (a PostgreSQL advisory lock) does the work, the
 * others get `status: 'locked'` at once and start. When a season is announced, the app inserts
 * it and calls `ensureSeasonPartitions(db)`, so its runs never land in DEFAULT.
 *
 *   DATABASE_URL=postgres://user:pass@host/db npx tsx examples/maintain-at-startup.ts
 *
 * Without DATABASE_URL it starts its own PostgreSQL, as `npm run demo` does.
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
// In an app: from 'pgparts', 'pgparts/leaderboard' and 'pgparts/presets'.
import { ensureSeasonPartitions, season } from '../src/domains/leaderboard/index.js';
import { builtInFamilies } from '../src/domains/presets.js';
import { type AnyPgDatabase, maintain } from '../src/index.js';
import { withExampleDatabase } from './support/example-database.js';

/**
 * What an app runs before it starts serving. Never throws: a step that failed is in the result,
 * and a run that could not start (the catalog read kept waiting for a lock another session holds,
 * the connection failed, ...) is logged; either way the app starts, and the next start or cron
 * run tries again.
 */
export async function maintainPartitionsAtStartUp(db: AnyPgDatabase): Promise<void> {
  let result: Awaited<ReturnType<typeof maintain>>;
  try {
    result = await maintain(db, { families: builtInFamilies, lockTimeoutMs: 2000, retries: 3 });
  } catch (error) {
    console.log(`partitions: maintenance could not run, nothing was changed: ${error}`);
    return;
  }
  if (result.status === 'locked') {
    console.log(`partitions: another instance (backend ${result.lockHolderPid}) is on it`);
    return;
  }
  console.log(
    `partitions: ${result.done} created, ${result.skipped} skipped, ${result.failed} failed ` +
      `in ${Math.round(result.elapsedMs)} ms`,
  );
  for (const r of result.results) {
    if (r.outcome !== 'done')
      console.log(`  ${r.step.kind} ${r.step.label}: ${r.outcome}: ${r.message}`);
  }
  // A step that could not get its lock in time is retried by the next start or cron run; the
  // premade window (3 months for killmails) leaves weeks of slack, so the app starts anyway.
}

/** Announcing a season: its partitions exist before the first run of it is inserted. */
export async function announceSeason(db: AnyPgDatabase, id: number, name: string): Promise<void> {
  await db.insert(season).values({ id, name }).onConflictDoNothing();
  // A maintenance run in progress is waited for (up to 30 s): it may have read the seasons
  // before this one was inserted.
  const result = await ensureSeasonPartitions(db);
  if (result.status === 'locked') {
    console.log(
      `season ${id}: a maintenance run (backend ${result.lockHolderPid}) still holds the lock; ` +
        'its rows go to DEFAULT until the next run creates the partitions and moves them',
    );
    return;
  }
  const created = result.results
    .filter((r) => r.outcome === 'done')
    .flatMap((r) => r.step.partitions);
  console.log(
    `season ${id}: ${created.length > 0 ? `created ${created.join(', ')}` : 'partitions already there'}`,
  );
}

await withExampleDatabase('startup_example', async (url) => {
  const client = postgres(url, { max: 4, onnotice: () => {} });
  try {
    const db = drizzle(client);
    // Three instances starting together: one does the work, the others find the lock taken
    // (or, when it was quicker than they were, nothing left to do).
    await Promise.all([1, 2, 3].map(() => maintainPartitionsAtStartUp(db)));
    await announceSeason(db, 15, 'Season 15 (announced)');
  } finally {
    // With a timeout: after a connection died under a statement, postgres.js 3.4's end() waits
    // for ever without one (README, Drivers).
    await client.end({ timeout: 5 });
  }
});
