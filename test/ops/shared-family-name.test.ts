import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * pgparts keeps its records in the family's schema by family name. Two apps that each declare a
 * family `events` in `public`, over tables of their own, shared them without a word: one's
 * retired keys refused the other's drains, one's runs were reported as the other's, and the only
 * sign was an info line. Each family whose name the records give to partitions of a table it
 * does not declare is now a warning (status --check fails) that says why and what to do.
 */
const now = new Date('2026-11-10T12:00:00Z');
const daily = (name: string, tables: string[]) =>
  parseFamily({
    name,
    tables,
    partitionBy: { strategy: 'range', column: 'at', interval: 'day', premake: 1, past: 0 },
  });

async function attention(family: ReturnType<typeof daily>): Promise<string[]> {
  return status([family], await inspect(t.db, [family]), now).attention;
}

describe('two families of one name in one schema', () => {
  it("each is warned of the other's table in its records", async () => {
    for (const table of ['ev_a', 'ev_b']) {
      await t.sql.unsafe(`CREATE TABLE ${table} (id bigint NOT NULL, at timestamptz NOT NULL)
        PARTITION BY RANGE (at)`);
    }
    const a = daily('events', ['ev_a']);
    const b = daily('events', ['ev_b']);
    expect((await apply(t.db, { families: [a], now })).ok).toBe(true);
    expect(await attention(a)).toEqual([]);
    // (b has no partitions yet: those lines come first.)
    const warned = (await attention(b)).filter((line) => line.includes('records'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(
      /pgparts's records in schema public keep partitions of public\.ev_a under the family name events, and this family does not declare ev_a: if another family of that name keeps it \(another app's\?\), the two share their records/,
    );
    expect((await apply(t.db, { families: [b], now })).ok).toBe(true);
    expect((await attention(a)).join('\n')).toMatch(/keep partitions of public\.ev_b/);
  });

  it('a table taken out of a family: the warning says how to drop its records', async () => {
    for (const table of ['pair_x', 'pair_y']) {
      await t.sql.unsafe(`CREATE TABLE ${table} (id bigint NOT NULL, at timestamptz NOT NULL)
        PARTITION BY RANGE (at)`);
    }
    expect((await apply(t.db, { families: [daily('pair', ['pair_x', 'pair_y'])], now })).ok).toBe(
      true,
    );
    const narrowed = daily('pair', ['pair_x']);
    const [warning] = await attention(narrowed);
    const statement = /DELETE FROM .*$/.exec(warning ?? '')?.[0];
    expect(statement).toBe(
      `DELETE FROM "public"."pgparts_owned_tables" WHERE family = 'pair' AND parent = 'pair_y'`,
    );
    await t.sql.unsafe(statement ?? '');
    expect(await attention(narrowed)).toEqual([]);
  });
});
