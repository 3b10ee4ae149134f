import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { plan } from '../../src/plan/plan.js';
import { lockHolder } from '../../src/run/advisory-lock.js';
import { type ApplyResult, apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

async function layout(): Promise<string[]> {
  const rows = await t.sql<{ name: string; comment: string | null }[]>`
    SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid ORDER BY 1`;
  return rows.map((r) => `${r.name}:${r.comment}`);
}

describe('two apply runs started at once', () => {
  it("one does the work, the other finds the lock taken and does nothing; the result is one run's", async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')`;
    const later = addIntervals('month', intervalStart('month', new Date()), 2);
    const options = { families: builtInFamilies, now: later, retention: false };

    // Two instances, each with its own pool, as two app servers would have.
    const dbs = [drizzle(t.connect({ max: 3 })), drizzle(t.connect({ max: 3 }))];
    const runs: Promise<ApplyResult>[] = [];
    // The run that gets the lock holds it until the other has returned, so they overlap for sure.
    const waitForOther = (self: number) => async (event: { type: string }) => {
      if (event.type !== 'lock-acquired') return;
      const other = runs[1 - self];
      const timeout = new Promise((resolve) => setTimeout(resolve, 10_000));
      await Promise.race([other, timeout]);
    };
    runs.push(apply(dbs[0] as never, { ...options, onProgress: waitForOther(0) }));
    runs.push(apply(dbs[1] as never, { ...options, onProgress: waitForOther(1) }));
    const results = await Promise.all(runs);

    const applied = results.filter((r) => r.status === 'applied');
    const locked = results.filter((r) => r.status === 'locked');
    expect(applied).toHaveLength(1);
    expect(locked).toHaveLength(1);
    expect(locked[0]).toMatchObject({ ok: true, plan: null, results: [], done: 0 });
    // The locked run names the backend that holds the lock: the other run's.
    expect(locked[0]?.lockHolderPid).toBe(applied[0]?.lockHolderPid);
    expect(applied[0]?.ok).toBe(true);
    // 3 seasons x 2 tables, and 2 new months x 3 killmail tables.
    expect(applied[0]?.done).toBe(12);

    // Same state as a single run: nothing left to plan, and the lock is free again.
    const snapshot = await inspect(t.db, builtInFamilies);
    expect(plan(builtInFamilies, snapshot, later, { retention: false }).steps).toEqual([]);
    expect(await lockHolder(t.db)).toBeNull();
    const before = await layout();
    const single = await apply(t.db, options);
    expect(single.results).toEqual([]);
    expect(await layout()).toEqual(before);
  });
});
