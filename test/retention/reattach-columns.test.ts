import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { month2026 as month } from '../support/month-key.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/** One monthly table; its months are archived, then the parent's columns change. */
const family = parseFamily({
  name: 'metrics',
  tables: ['metric_points'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0, past: 2 },
  defaultPartition: true,
  retention: { keep: 12, mode: 'archive' },
});

/** Count and md5 of the rows over the columns they had when archived (new columns left out). */
async function digest(table: string): Promise<{ rows: number; checksum: string }> {
  const [row] = await t.sql<{ rows: number; checksum: string }[]>`
    SELECT count(*)::int AS rows,
           md5(coalesce(string_agg((id, at, value)::text, E'\n' ORDER BY id), '')) AS checksum
    FROM ${t.sql(table)}`;
  return row ?? { rows: -1, checksum: '' };
}

async function archivedRows(name: string): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'pgparts_archive' AND c.relname = ${name}`;
  return row?.n ?? -1;
}

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE metric_points (id bigint NOT NULL, at timestamptz NOT NULL, value float8,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
  expect((await apply(t.db, { families: [family], now: new Date('2026-03-15Z') })).ok).toBe(true);
  await t.sql.unsafe(`
    INSERT INTO metric_points
    SELECT g, timestamptz '2026-01-01Z' + (g % 59) * interval '1 day', g / 7.0
    FROM generate_series(1, 3000) g`);
  for (const m of [1, 2]) {
    const retired = await retireKey(t.db, family, month(m), { mode: 'archive' });
    expect(retired.status).toBe('retired');
  }
});

describe('reattach after the parent renamed a column', () => {
  it('refuses, offering the RENAME that keeps the values before the DROP that loses them', async () => {
    const before = await digest('pgparts_archive.metric_points_2026_01');
    await t.sql.unsafe('ALTER TABLE metric_points RENAME COLUMN value TO reading');
    try {
      expectPgpartsError(await rejection(reattachKey(t.db, family, month(1))), 'invalid-input', {
        message:
          /column "value" is not on public\.metric_points any more \(if the parent renamed it to "reading": ALTER TABLE "pgparts_archive"\."metric_points_2026_01" RENAME COLUMN "value" TO "reading" \(its values stay\); otherwise drop it/,
      });
      expect(await digest('pgparts_archive.metric_points_2026_01')).toEqual(before);
    } finally {
      await t.sql.unsafe('ALTER TABLE metric_points RENAME COLUMN reading TO value');
    }
  });
});

describe('reattach after the parent gained columns', () => {
  it('adds a nullable column and one with a default to the archived table; rows kept', async () => {
    const before = await digest('pgparts_archive.metric_points_2026_01');
    expect(before.rows).toBeGreaterThan(0);
    await t.sql.unsafe(`
      ALTER TABLE metric_points ADD COLUMN source text;
      ALTER TABLE metric_points ADD COLUMN unit text NOT NULL DEFAULT 'ms'`);
    const back = await reattachKey(t.db, family, month(1));
    expect(back.partitions).toEqual([
      { table: 'metric_points', partition: 'metric_points_2026_01', rows: before.rows },
    ]);
    expect(await digest('public.metric_points_2026_01')).toEqual(before);
    const [given] = await t.sql<{ sources: number; units: string[] }[]>`
      SELECT count(source)::int AS sources, array_agg(DISTINCT unit) AS units
      FROM metric_points_2026_01`;
    expect(given).toEqual({ sources: 0, units: ['ms'] });
  });

  it('refuses a NOT NULL column with no default, naming the fix; the table stays archived', async () => {
    const before = await digest('pgparts_archive.metric_points_2026_02');
    // Added with a default that is dropped afterwards: NOT NULL, and nothing to fill old rows.
    await t.sql.unsafe(`
      ALTER TABLE metric_points ADD COLUMN host text NOT NULL DEFAULT 'a';
      ALTER TABLE metric_points ALTER COLUMN host DROP DEFAULT`);
    expectPgpartsError(await rejection(reattachKey(t.db, family, month(2))), 'invalid-input', {
      message:
        /metric_points_2026_02 cannot be attached[\s\S]*"host" is NOT NULL with no default[\s\S]*ADD COLUMN "host" text DEFAULT <value> NOT NULL/,
    });
    expect(await archivedRows('metric_points_2026_02')).toBe(1);
    expect(await digest('pgparts_archive.metric_points_2026_02')).toEqual(before);
    // Nothing was added to the archived table either (the refusal comes before any change).
    const [columns] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_attribute
      WHERE attrelid = 'pgparts_archive.metric_points_2026_02'::regclass AND attnum > 0
        AND NOT attisdropped`;
    expect(columns?.n).toBe(3);

    // The way the message gives: the column with a value for the old rows, then reattach.
    await t.sql.unsafe(
      `ALTER TABLE pgparts_archive.metric_points_2026_02 ADD COLUMN host text DEFAULT 'old' NOT NULL`,
    );
    const back = await reattachKey(t.db, family, month(2));
    expect(back.partitions[0]?.rows).toBe(before.rows);
    expect(await digest('public.metric_points_2026_02')).toEqual(before);
  });
});
