import type postgres from 'postgres';
import type { TestDatabase } from './test-database.js';

/**
 * Commits `app`'s open transaction, in the background, once another session waits for a lock
 * (pg_locks shows a request not granted: a row or table `app` holds), or after 10 s. Resolves to
 * how long it watched: under the limit means the wait was seen by the server.
 */
export function commitWhenWaitedOn(t: TestDatabase, app: postgres.ReservedSql): Promise<number> {
  return (async () => {
    const started = performance.now();
    for (;;) {
      const [waiting] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`;
      if ((waiting?.n ?? 0) > 0 || performance.now() - started > 10_000) break;
    }
    const watched = performance.now() - started;
    await app`COMMIT`;
    return watched;
  })();
}
