import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import {
  parseStatisticsTargets,
  statisticsTargetsJson,
} from '../../src/catalog/statistics-targets.js';
import { partitionName } from '../../src/define/partition-key.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { plan } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { createPartitionOfSql } from '../../src/sql/partition-ddl.js';
import { statisticsTargetsSql } from '../../src/sql/statistics-targets.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * Everything the catalog says about a partition, with its own name replaced by `<p>` so two
 * partitions of the same parent can be compared: columns, constraints (both directions),
 * indexes and whether they are attached, triggers, ownership, privileges, storage, comment.
 */
async function describePartition(name: string): Promise<unknown> {
  const rel = `public.${name}`;
  const rows = await t.sql<{ what: string; line: string }[]>`
    WITH p AS (SELECT ${rel}::regclass AS oid)
    SELECT 'class' AS what, concat_ws(' ', c.relkind, c.relpersistence, pg_get_userbyid(c.relowner),
             c.reltablespace, c.relam, c.relreplident, c.relrowsecurity, c.reloptions::text, c.relacl::text,
             obj_description(c.oid, 'pg_class'), c.relispartition, pg_get_expr(c.relpartbound, c.oid) IS NOT NULL) AS line
      FROM pg_class c, p WHERE c.oid = p.oid
    UNION ALL
    SELECT 'column', concat_ws(' ', a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
             a.attislocal, a.attinhcount, a.attstorage, a.attcompression, a.attidentity, a.attgenerated,
             a.attcollation, pg_get_expr(d.adbin, d.adrelid), a.attstattarget)
      FROM pg_attribute a JOIN p ON a.attrelid = p.oid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'constraint', concat_ws(' ', k.conname, k.contype, pg_get_constraintdef(k.oid), k.conislocal,
             k.coninhcount, k.conparentid <> 0, k.convalidated, k.condeferrable)
      FROM pg_constraint k, p WHERE k.conrelid = p.oid
    UNION ALL
    SELECT 'referenced-by', concat_ws(' ', k.conname, k.conrelid::regclass::text, k.conparentid <> 0, k.convalidated)
      FROM pg_constraint k, p WHERE k.confrelid = p.oid
    UNION ALL
    SELECT 'index', concat_ws(' ', pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisprimary,
             (SELECT count(*) FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))
      FROM pg_index i, p WHERE i.indrelid = p.oid
    UNION ALL
    SELECT 'trigger', concat_ws(' ', g.tgname, g.tgenabled, g.tgparentid <> 0, g.tgisinternal)
      FROM pg_trigger g, p WHERE g.tgrelid = p.oid AND NOT g.tgisinternal
    UNION ALL
    SELECT 'inherits', h.inhparent::regclass::text FROM pg_inherits h, p WHERE h.inhrelid = p.oid`;
  // The referenced side's constraint rows are named <fkey>_N, N counting how many exist: the
  // same for either way of creating, but different for any two partitions.
  return (
    rows
      .map((r) => `${r.what}: ${r.line.replaceAll(name, '<p>')}`)
      // The server numbers the clone of a foreign key it makes per referenced partition: "_1" on
      // PostgreSQL 15+, "1" or "2" on 14, depending on what was cloned first.
      .map((line) =>
        line.startsWith('referenced-by')
          ? line.replace(/^(referenced-by: \S*?)_?\d+ /, '$1_N ')
          : line,
      )
      .sort()
      .join('\n')
  );
}

describe('a partition created standalone and attached', () => {
  it('is catalog-identical to one made by CREATE TABLE ... PARTITION OF (LIST and RANGE)', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (201, 'a'), (202, 'b')`;
    // The reference: PARTITION OF, referenced table first.
    for (const table of leaderboardFamily.tables) {
      for (const s of createPartitionOfSql(leaderboardFamily, table, { kind: 'list', value: 201 }))
        await t.sql.unsafe(s);
    }
    const later = new Date(Date.UTC(new Date().getUTCFullYear() + 3, 0, 1));
    const month = {
      kind: 'range' as const,
      from: later,
      to: new Date(Date.UTC(later.getUTCFullYear(), 1, 1)),
    };
    for (const table of killmailFamily.tables) {
      for (const s of createPartitionOfSql(killmailFamily, table, month)) await t.sql.unsafe(s);
    }
    // The one way they differ by design: PARTITION OF gives a new partition the default
    // statistics targets, pgparts the parent's (migration 0007 sets enrichment_blob's). The
    // references are given the parent's, as ALTER COLUMN ... SET STATISTICS on it would have.
    const reference = [
      ...leaderboardFamily.tables.map((table) => ({
        table,
        name: partitionName(leaderboardFamily, table, { kind: 'list', value: 201 }),
      })),
      ...killmailFamily.tables.map((table) => ({
        table,
        name: partitionName(killmailFamily, table, month),
      })),
    ];
    let carried = 0;
    for (const { table, name } of reference) {
      const [row] = await t.db.execute<{ targets: unknown }>(
        sql`SELECT ${statisticsTargetsJson(sql`${`public.${table}`}::regclass`)} AS targets`,
      );
      const targets = parseStatisticsTargets(row?.targets);
      carried += targets.length;
      for (const s of statisticsTargetsSql(`"public"."${name}"`, targets)) await t.sql.unsafe(s);
    }
    expect(carried).toBe(1);

    // The way apply creates them now: season 202 (planned from the season table), the month
    // after (planned from the clock).
    const families = [leaderboardFamily, killmailFamily];
    const now = new Date(Date.UTC(later.getUTCFullYear(), 1, 1) - 86_400_000 * 20);
    const planned = plan(families, await inspect(t.db, families), now, { retention: false });
    const createSql = planned.steps.find((s) =>
      s.id.startsWith('create:leaderboard:202:run_group'),
    )?.sql;
    // The plan shows what runs: the locks first, then no PARTITION OF.
    expect(createSql?.[0]).toMatch(
      /^LOCK TABLE "public"."leaderboard_run" IN SHARE ROW EXCLUSIVE MODE$/,
    );
    expect(createSql?.join('\n')).not.toMatch(/PARTITION OF/);
    const result = await apply(t.db, { families, now, retention: false });
    expect(result.failed).toBe(0);

    for (const table of leaderboardFamily.tables) {
      const reference = await describePartition(
        partitionName(leaderboardFamily, table, { kind: 'list', value: 201 }),
      );
      const attached = await describePartition(
        partitionName(leaderboardFamily, table, { kind: 'list', value: 202 }),
      );
      expect(attached).toEqual(reference);
    }
    const next = {
      kind: 'range' as const,
      from: month.to,
      to: new Date(Date.UTC(later.getUTCFullYear(), 2, 1)),
    };
    for (const table of killmailFamily.tables) {
      const reference = await describePartition(partitionName(killmailFamily, table, month));
      const attached = await describePartition(partitionName(killmailFamily, table, next));
      expect(attached).toEqual(reference);
    }
  });
});
