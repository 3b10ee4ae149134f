import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { isPgpartsError } from '../../src/errors.js';
import { apply, drainKey, inspect, maintain, migrate } from '../../src/index.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

/** The partitions of the leaderboard tables, and pgparts's records of migrations and runs. */
async function catalogState() {
  return t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_class c
    WHERE c.relname LIKE 'leaderboard_run%' OR c.relname LIKE 'run_group_member%'
       OR c.relname LIKE 'pgparts%' ORDER BY 1`;
}

// A postgres.js client with a column name transform returns key_columns as keyColumns: pgparts
// read nothing there and reported its own tables as not matching their spec ("partitioned by
// LIST (season_id), but the spec says LIST (season_id)"), and migrate found none of the
// migrations it had applied and ran them again.
describe('a postgres.js client whose transform option changes what it returns', () => {
  it('is refused by every operation, naming the option, before anything runs', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (7, 'S7')`;
    const before = await catalogState();
    for (const transform of [
      postgres.camel,
      { column: { from: postgres.toCamel } },
      { value: (v: unknown) => v },
    ]) {
      const client = t.connect({
        max: 2,
        transform: transform as postgres.Options<Record<string, never>>['transform'],
      });
      try {
        const db = drizzle(client);
        for (const [operation, run] of [
          ['apply', () => apply(db, { families })],
          ['maintain', () => maintain(db, { families })],
          ['inspect', () => inspect(db, families)],
          ['migrate', () => migrate(db)],
          ['drain', () => drainKey(db, leaderboardFamily, { kind: 'list', value: 7 })],
        ] as const) {
          const error = await run().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(
            isPgpartsError(error, 'unsupported-driver'),
            `${operation}: ${String(error)}`,
          ).toBe(true);
          expect((error as Error).message).toMatch(
            new RegExp(
              `^pgparts: ${operation}: the database's postgres\\.js client changes what it returns \\(its \`transform\` option: (column|value|row)\\.from(, (value|row)\\.from)*\\)`,
            ),
          );
          expect((error as Error).message).toContain('nothing was changed');
        }
      } finally {
        await client.end({ timeout: 1 });
      }
    }
    expect(await catalogState()).toEqual(before);
  });

  it('one that transforms only what is sent (undefined to null) works as any other', async () => {
    const client = t.connect({ max: 2, transform: { undefined: null } });
    try {
      const db = drizzle(client);
      expect(await apply(db, { families })).toMatchObject({ ok: true });
      const [made] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_class WHERE relname IN ('leaderboard_run_s7', 'run_group_member_s7')`;
      expect(made?.n).toBe(2);
    } finally {
      await client.end({ timeout: 1 });
    }
  });
});
