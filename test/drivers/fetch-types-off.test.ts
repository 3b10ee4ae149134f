import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { insertRuns, setupSeasons } from '../drain/leaderboard-fixture.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';
import { within10s } from '../support/within.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

// postgres.js 3.4.9 with `fetch_types: false` (an option apps behind a pooler or on serverless
// set) never settles a reserve() that has to open a connection: apply, inspect and every
// operation that pins one waited for ever on a client with no idle connection.
describe('a postgres.js client made with fetch_types: false', () => {
  it('runs apply, inspect and a drain as its first work, and with its connections busy', async () => {
    await setupSeasons(t.sql);
    const client = t.connect({ max: 2, fetch_types: false });
    try {
      const db = drizzle(client);
      expect(await within10s(apply(db, { families }))).toBe('ok');
      // Its one idle connection taken by a long statement of the app's: the run opens another.
      const busy = client`SELECT pg_sleep(0.5)`.then(() => 'slept');
      expect(await within10s(apply(db, { families }))).toBe('ok');
      expect(await within10s(inspect(db, families))).toBe('ok');
      expect(await busy).toBe('slept');
    } finally {
      await client.end({ timeout: 1 });
    }
    const fresh = t.connect({ max: 4, fetch_types: false });
    try {
      await t.sql`INSERT INTO season (id, name) VALUES (40, 'S40')`;
      await insertRuns(t.sql, 40, 100, 5);
      const before = await tableDigest(t.sql, 'leaderboard_run', ['season_id', 'id']);
      const drained = drainKey(drizzle(fresh), leaderboardFamily, { kind: 'list', value: 40 });
      expect(await within10s(drained)).toBe('ok');
      expect(await tableDigest(t.sql, 'leaderboard_run', ['season_id', 'id'])).toEqual(before);
      const [moved] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM leaderboard_run_s40`;
      expect(moved?.n).toBe(100);
    } finally {
      await fresh.end({ timeout: 1 });
    }
  }, 60_000);

  it('the connection it opened for the run taken by an app query first: the run gets the next one idle', async () => {
    const client = t.connect({ max: 2, fetch_types: false });
    try {
      // The app sends a query the moment pgparts's empty query is answered, before pgparts
      // reserves the connection that query left idle.
      const sent = client.unsafe.bind(client);
      const stolen: Promise<unknown>[] = [];
      (client as { unsafe: unknown }).unsafe = (...args: Parameters<typeof client.unsafe>) => {
        const query = sent(...args);
        if (args[0] !== '' || stolen.length > 0) return query;
        return query.then((result) => {
          stolen.push(client`SELECT pg_sleep(0.3)`.then(() => 'slept'));
          return result;
        });
      };
      expect(await within10s(apply(drizzle(client), { families }))).toBe('ok');
      expect(stolen).toHaveLength(1);
      expect(await stolen[0]).toBe('slept');
    } finally {
      await client.end({ timeout: 1 });
    }
  }, 60_000);
});
