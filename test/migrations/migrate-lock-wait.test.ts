import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { MIGRATION_LOCK_KEY } from '../../src/migrations/runner.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * A runner waited for the migration lock in a blocking pg_advisory_lock: a statement, so a
 * transaction, open for the whole wait. The holder's next online index build (CREATE INDEX
 * CONCURRENTLY waits for every transaction older than its own) then waited for the waiter, which
 * waited for the holder: the server failed one of them with "deadlock detected" (two replicas
 * deploying at once, or two apps sharing a database). The wait now runs no statement.
 */
describe('migrate waiting for the migration lock', () => {
  it("lets the holder's CREATE INDEX CONCURRENTLY through, then runs", async () => {
    await t.sql.unsafe('CREATE TABLE lock_wait (id int, v int)');
    const holder = t.connect({ max: 1 });
    try {
      await holder`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY[0]}::int4, ${MIGRATION_LOCK_KEY[1]}::int4)`;
      const waiter = t.connect({ max: 1, connection: { application_name: 'lock-waiter' } });
      let settled = false;
      const waiting = migrate(drizzle(waiter)).finally(() => {
        settled = true;
      });
      waiting.catch(() => {});
      try {
        // The waiter is waiting once the server has seen it try the lock.
        for (let seen = false; !seen; ) {
          const [row] = await t.sql<{ n: number }[]>`
            SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name = 'lock-waiter' AND query LIKE '%advisory_lock%'`;
          seen = (row?.n ?? 0) > 0;
        }
        // Before, the server found the cycle after deadlock_timeout (1 s) and failed one side.
        await holder.unsafe("SET lock_timeout = '10s'");
        await holder.unsafe('CREATE INDEX CONCURRENTLY lock_wait_v ON lock_wait (v)');
        expect(settled).toBe(false);
      } finally {
        await holder`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY[0]}::int4, ${MIGRATION_LOCK_KEY[1]}::int4)`;
      }
      const result = await waiting;
      expect(result.applied).toEqual([]);
      const [index] = await t.sql<{ valid: boolean }[]>`
        SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'lock_wait_v'::regclass`;
      expect(index?.valid).toBe(true);
      await waiter.end();
    } finally {
      await holder.end();
    }
  });
});
