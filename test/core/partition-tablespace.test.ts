import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { apply } from '../../src/run/apply.js';
import { inPlaceTablespace } from '../support/in-place-tablespace.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A parent created in a tablespace (`... PARTITION BY RANGE (at) TABLESPACE fast`) gives its
 * tablespace to the partitions CREATE TABLE ... PARTITION OF makes. pgparts creates its tables
 * standalone and attaches them: its partitions, a drain's staging table and a swap's new DEFAULT
 * went to the default tablespace instead. They now take the parent's.
 */
const family = (premake: number) =>
  parseFamily({
    name: 'ev',
    tables: ['ev'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake },
    defaultPartition: true,
  });

async function tablespaces(): Promise<Record<string, string>> {
  const rows = await t.sql<{ name: string; ts: string }[]>`
    SELECT c.relname AS name, coalesce(s.spcname, '(default)') AS ts
    FROM pg_class c LEFT JOIN pg_tablespace s ON s.oid = c.reltablespace
    WHERE c.relkind IN ('r', 'p') AND c.relname LIKE 'ev%' ORDER BY 1`;
  return Object.fromEntries(rows.map((r) => [r.name, r.ts]));
}

describe("the tables pgparts creates go to the parent's tablespace", () => {
  it('partitions apply creates, and a drain by swap (its partition and the new DEFAULT)', async (context) => {
    const { space } = await inPlaceTablespace(t, context, 'fast');
    try {
      await t.sql.unsafe(`
        CREATE TABLE ev (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
          PARTITION BY RANGE (at) TABLESPACE "${space}";
        CREATE TABLE ev_default PARTITION OF ev DEFAULT;`);
      expect((await apply(t.db, { families: [family(1)] })).failed).toBe(0);
      const made = await tablespaces();
      expect(Object.keys(made)).toHaveLength(4); // parent, DEFAULT, this month, next
      expect(new Set(Object.values(made))).toEqual(new Set([space]));

      // Rows of a month ahead land in DEFAULT; premake 4 creates it and drains them (swap).
      await t.sql.unsafe(`
        INSERT INTO ev SELECT g, date_trunc('month', now()) + interval '4 months' + g * interval '1 minute'
        FROM generate_series(1, 500) g`);
      const before = await tableDigest(t.sql, 'ev', ['id', 'at']);
      const run = await apply(t.db, { families: [family(4)] });
      expect(run.failed).toBe(0);
      expect(run.results.some((r) => r.step.kind === 'drain' && r.outcome === 'done')).toBe(true);
      expect(await tableDigest(t.sql, 'ev', ['id', 'at'])).toEqual(before);
      const after = await tablespaces();
      expect(Object.keys(after)).toHaveLength(7);
      expect(new Set(Object.values(after))).toEqual(new Set([space]));
    } finally {
      await t.sql.unsafe('DROP TABLE IF EXISTS ev');
      await t.sql.unsafe(`DROP TABLESPACE IF EXISTS "${space}"`);
    }
  });
});
