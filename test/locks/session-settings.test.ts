import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { digests, insertRuns, setupSeasons } from '../drain/leaderboard-fixture.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * Records, for every DDL command and every statement that deletes from pgparts's change log,
 * the jit setting it ran with and whether its transaction held a lock that blocks writers of a
 * leaderboard table: the statements pgparts runs under its locks, seen from the server.
 */
async function recordSettings(): Promise<void> {
  await t.sql.unsafe(`
    CREATE TABLE seen_settings (what text, jit text, locks_writers boolean);
    CREATE FUNCTION record_settings() RETURNS void LANGUAGE sql AS $$
      INSERT INTO seen_settings
      SELECT current_query(), current_setting('jit'),
             EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                     WHERE l.pid = pg_backend_pid() AND l.granted
                       AND c.relname LIKE ANY (ARRAY['leaderboard_run%', 'run_group_member%'])
                       AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock'))
    $$;
    CREATE FUNCTION record_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM record_settings(); END $$;
    CREATE EVENT TRIGGER record_ddl ON ddl_command_end EXECUTE FUNCTION record_ddl();`);
}

/** After drainKey made the change log: record the settings of each delete from it. */
async function recordLogDeletes(): Promise<void> {
  await t.sql.unsafe(`
    CREATE FUNCTION record_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM record_settings(); RETURN NULL; END $$;
    CREATE TRIGGER record_log_delete AFTER DELETE ON pgparts_changes
      FOR EACH STATEMENT EXECUTE FUNCTION record_log_delete();`);
}

describe('settings of the statements pgparts runs under its locks', () => {
  it('with JIT forced on for the database, nothing under a lock is JIT-compiled', async () => {
    const [{ available } = { available: false }] = await t.sql<{ available: boolean }[]>`
      SELECT pg_jit_available() AS available`;
    // Every statement over the cost thresholds (all of them) would be compiled.
    await t.sql.unsafe(
      `ALTER DATABASE "${t.name}" SET jit = on;
       ALTER DATABASE "${t.name}" SET jit_above_cost = 0;
       ALTER DATABASE "${t.name}" SET jit_inline_above_cost = 0;
       ALTER DATABASE "${t.name}" SET jit_optimize_above_cost = 0`,
    );
    const session = t.connect({ max: 2 });
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const db = drizzle(session);
    // The database setting is live: a statement of the replay's shape is compiled outside pgparts.
    const [plan] = await session.unsafe<{ 'QUERY PLAN': unknown }[]>(
      `EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM leaderboard_run WHERE season_id = 14`,
    );
    const planned = JSON.stringify(plan?.['QUERY PLAN']);
    if (available) expect(planned).toContain('"JIT"');

    await setupSeasons(t.sql);
    await insertRuns(t.sql, 14, 3000);
    await insertRuns(t.sql, 12, 3000);
    await recordSettings();
    const before = await digests(t.sql);
    // Prepare the change log (a first drain of nothing creates it), then watch its deletes.
    const swap = await drainKey(
      db,
      leaderboardFamily,
      { kind: 'list', value: 14 },
      {
        onPhase: async (phase) => {
          if (phase === 'prepared') await recordLogDeletes();
        },
      },
    );
    const del = await drainKey(
      db,
      leaderboardFamily,
      { kind: 'list', value: 12 },
      {
        strategy: 'delete',
      },
    );
    await t.sql`INSERT INTO season (id, name) VALUES (15, 'S15')`;
    const created = await apply(db, { families: [leaderboardFamily], retention: false });
    expect(created.failed).toBe(0);
    const retired = await retireKey(db, leaderboardFamily, { kind: 'list', value: 15 });
    expect(retired.status).toBe('retired');
    expect(await digests(t.sql)).toEqual(before);

    const seen = await t.sql<{ what: string; jit: string; locks_writers: boolean }[]>`
      SELECT what, jit, locks_writers FROM seen_settings`;
    const underLocks = seen.filter((s) => s.locks_writers);
    console.log(
      `jit available: ${available}; ${seen.length} statements recorded, ${underLocks.length} under ` +
        `locks that block writers; drain hold with jit forced on: ${swap.strategy} ${Math.round(swap.maxLockHoldMs)} ms ` +
        `(replay ${Math.round(swap.finalPhase.replayMs)} ms), ${del.strategy} ${Math.round(del.maxLockHoldMs)} ms ` +
        `(replay ${Math.round(del.finalPhase.replayMs)} ms, delete ${Math.round(del.finalPhase.deleteMs)} ms)`,
    );
    // The drains' final phases, the create steps and the retire all ran statements under locks.
    expect(underLocks.some((s) => /ATTACH PARTITION/.test(s.what))).toBe(true);
    expect(underLocks.some((s) => /DETACH PARTITION/.test(s.what))).toBe(true);
    expect(underLocks.some((s) => /pgparts_changes/.test(s.what))).toBe(true);
    expect(underLocks.filter((s) => s.jit !== 'off')).toEqual([]);
    await session.end();
  });
});
