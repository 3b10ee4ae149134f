import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * What the connection keeps after maintenance runs on it: its prepared statements, read on that
 * same connection (a client of one connection), and whether a later run reused them. The first
 * run on a client sends its statements with their values written in, unnamed (`inlined`: kept
 * are only those without parameters that ask to be, which cost no round trip to prepare); the
 * next one names those it sends again: with their values written in where the text is the same,
 * with their parameters where the values changed (the lock attempt carries the run's token).
 */
async function keptAfterTwoRuns(prepare: boolean) {
  const client = t.connect({ max: 1, prepare });
  const db = drizzle(client);
  await apply(db, { families: [leaderboardFamily] });
  // (postgres.js's own read of the array types, and this read, are the connection's only ones.)
  const inlined = await client<{ statement: string; parameters: string }[]>`
    SELECT statement, parameter_types::text AS parameters FROM pg_prepared_statements
    WHERE statement NOT LIKE '%pg_prepared_statements%' AND statement NOT LIKE '%typarray%'`;
  if (prepare) {
    // DEFAULT's first look (its values written in, no parameters): kept from the first run on.
    expect(inlined.length).toBeGreaterThan(0);
    expect(inlined.every((s) => s.parameters === '{}')).toBe(true);
    expect(inlined.some((s) => s.statement.includes('AS occupied'))).toBe(true);
  } else expect(inlined).toEqual([]);
  const first = await apply(db, { families: [leaderboardFamily] });
  const kept = await client<{ name: string; statement: string; generic: number; custom: number }[]>`
    SELECT name, statement, generic_plans::int AS generic, custom_plans::int AS custom
    FROM pg_prepared_statements`;
  const second = await apply(db, { families: [leaderboardFamily] });
  const [after] = await client<{ generic: number }[]>`
    SELECT coalesce(sum(generic_plans), 0)::int AS generic FROM pg_prepared_statements`;
  return { first, second, kept, genericAfter: after?.generic ?? 0 };
}

describe("maintenance on pgparts's own connection", () => {
  it('keeps its parameterized statements named, and plans the catalog batches generically', async () => {
    const { first, second, kept, genericAfter } = await keptAfterTwoRuns(true);
    expect(first.ok && second.ok).toBe(true);
    expect(second.plan?.steps).toEqual([]);
    // The advisory lock, the session settings and the catalog batches are kept by the connection.
    expect(kept.some((s) => s.statement.includes('pg_try_advisory_lock'))).toBe(true);
    expect(kept.some((s) => s.statement.includes('json_agg'))).toBe(true);
    const catalog = kept.filter((s) => s.statement.includes('json_agg'));
    // DEFAULT's first look too, without parameters: planned once, not on every run.
    const look = kept.find((s) => s.statement.includes('AS occupied'));
    expect(look?.generic).toBeGreaterThanOrEqual(1);
    // Planned generically in inspect's transaction: no custom plan was made for them.
    expect(catalog.every((s) => s.custom === 0 && s.generic >= 1)).toBe(true);
    // The second run reused the kept statements' generic plans.
    expect(genericAfter).toBeGreaterThan(kept.reduce((n, s) => n + s.generic, 0));
  });

  it('sends nothing named on a client made with prepare: false (a transaction-mode pooler)', async () => {
    const { first, second, kept } = await keptAfterTwoRuns(false);
    expect(first.ok && second.ok).toBe(true);
    expect(kept).toEqual([]);
  });

  it("puts the caller's plan_cache_mode back when inspect runs inside the caller's transaction", async () => {
    const client = t.connect({ max: 1 });
    const db = drizzle(client);
    const modes = await db.transaction(async (tx) => {
      await tx.execute("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)");
      await inspect(tx as never, [leaderboardFamily]);
      const rows = await tx.execute("SELECT current_setting('plan_cache_mode') AS mode");
      return [...rows].map((r) => (r as { mode: string }).mode);
    });
    expect(modes).toEqual(['force_custom_plan']);
  });
});
