import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { month2026 as month } from '../support/month-key.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Columns named like the aliases a drain's statements use for rows (`k`, `d`, `r`, `x`, `t`, `e`,
 * `c`, `live`, even `pgparts_row`): a bare name that is also a column resolves to the column, and
 * a drain whose replay wrote `d AS r` failed on every such family ("column reference "k" is
 * ambiguous"), leaving its capture trigger logging every write. Rows changed during the copy make
 * the replay run; both final phases; every row as it should be, counted and checksummed.
 */
const events = parseFamily({
  name: 'cn_events',
  tables: ['cn_events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});
const COLUMNS = ['k', 'd', 'r', 'x', 't', 'e', 'c', 'live', 'pgparts_row', 'pgparts_key'];

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE cn_events (id bigint NOT NULL, at timestamptz NOT NULL,
      ${COLUMNS.map((c) => `${c} text`).join(', ')}, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
  expect((await apply(t.db, { families: [events] })).failed).toBe(0);
  for (const m of [3, 4]) {
    await t.sql.unsafe(`
      INSERT INTO cn_events SELECT ${m} * 10000 + i, timestamptz '2026-0${m}-01 00:00:00+00' + i * interval '1 hour',
        ${COLUMNS.map((c) => `'${c}' || i`).join(', ')} FROM generate_series(0, 299) i`);
  }
});

describe('a drain of a family whose columns share the names of its statements’ aliases', () => {
  it.each([
    ['swap', 3],
    ['delete', 4],
  ] as const)(
    '%s: replays what changed during the copy; every row as written',
    async (strategy, m) => {
      const key = month(m);
      const where = `at >= '${key.from.toISOString()}' AND at < '${key.to.toISOString()}'`;
      const [before] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM cn_events_default`;
      let expected: Awaited<ReturnType<typeof tableDigest>> | undefined;
      const result = await drainKey(t.db, events, key, {
        strategy,
        // A page a batch: two connections taking the batches in turn.
        batchPages: 1,
        onPhase: async (phase) => {
          if (phase !== 'copied') return;
          // Logged while the copy's rows wait to be indexed: an update, a delete, an insert.
          await t.sql.unsafe(`
          UPDATE cn_events SET k = 'changed', d = 'changed', pgparts_row = 'changed'
            WHERE id BETWEEN ${m}0000 AND ${m}0009;
          DELETE FROM cn_events WHERE id BETWEEN ${m}0010 AND ${m}0014;
          INSERT INTO cn_events (id, at, k, d) VALUES (${m}9999, timestamptz '2026-0${m}-20 00:00:00+00', 'new', 'new');`);
          // What the parent holds for the key now: what it must hold once drained.
          expected = await tableDigest(t.sql, 'cn_events', ['id', 'at'], where);
        },
      });
      expect(result).toMatchObject({ status: 'drained', strategy, rowsMoved: 300 - 5 + 1 });
      // Every row DEFAULT held was copied once, into the key's table or (swap) the next
      // DEFAULT, counted across both connections.
      expect(result.copyConnections).toBe(2);
      expect(result.rowsCopiedOnline).toBe(strategy === 'swap' ? before?.n : 300);
      const all = await tableDigest(t.sql, 'cn_events', ['id', 'at'], where);
      expect(expected?.rows).toBe(296);
      expect(all).toEqual(expected);
      // Its partition has all of it, DEFAULT none.
      const partition = await tableDigest(t.sql, `cn_events_2026_0${m}`, ['id', 'at']);
      expect(partition).toEqual(all);
      const [changed] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${t.sql(`cn_events_2026_0${m}`)}
      WHERE k = 'changed' AND d = 'changed' AND pgparts_row = 'changed'`;
      expect(changed?.n).toBe(10);
    },
  );
});
