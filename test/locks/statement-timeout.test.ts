import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { digests, insertRuns } from '../drain/leaderboard-fixture.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * statement_timeout and idle_in_transaction_session_timeout set for the database (an app's
 * 300 ms guard): pgparts's session turns them off for its own statements, and gives them back.
 */
describe('timeouts the database sets for the app', () => {
  it('a 300 ms statement_timeout on the database does not fail a drain that needs longer', async () => {
    await t.sql.unsafe(
      `ALTER DATABASE "${t.name}" SET statement_timeout = '300ms';
       ALTER DATABASE "${t.name}" SET idle_in_transaction_session_timeout = '300ms'`,
    );
    const session = t.connect({ max: 2 });
    const db = drizzle(session);
    // The setting is live for new connections: a statement over 300 ms is cancelled.
    await expect(session`SELECT pg_sleep(0.6)`).rejects.toMatchObject({ code: '57014' });
    // The fixture's one connection turns the timeout off for itself (and loads the rows unhurried).
    const loader = t.connect({ max: 1 });
    await loader`SET statement_timeout = 0`;
    await loader`INSERT INTO season (id, name) VALUES (16, 'S16') ON CONFLICT DO NOTHING`;
    await loader`INSERT INTO dungeon (id, name) VALUES (1, 'D1'), (2, 'D2') ON CONFLICT DO NOTHING`;
    // 120,000 rows: several times what a copy gets through in 300 ms even on a quiet machine.
    await insertRuns(loader, 16, 20_000);
    const before = await digests(loader);
    // One batch for the whole DEFAULT: its copy alone runs longer than 300 ms.
    const result = await drainKey(
      db,
      leaderboardFamily,
      { kind: 'list', value: 16 },
      {
        batchPages: 1_000_000,
      },
    );
    console.log(
      `drain under a 300 ms database statement_timeout: ${result.rowsMoved} rows in ${Math.round(result.elapsedMs)} ms`,
    );
    expect(result.status).toBe('drained');
    expect(result.rowsMoved).toBe(20_000 * 6);
    expect(await digests(loader)).toEqual(before);
    await loader.end();
    // pgparts gave the session its settings back: the app's timeout holds again on it.
    await expect(session`SELECT pg_sleep(0.6)`).rejects.toMatchObject({ code: '57014' });
    await session.end();
  }, 300_000);
});
