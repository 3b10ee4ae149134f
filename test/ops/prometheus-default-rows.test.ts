import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

const familyOf = (table: string) =>
  parseFamily({
    name: table,
    tables: [table],
    defaultPartition: true,
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  });

interface Parsed {
  name: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}

beforeAll(async () => {
  for (const table of ['stray_rows', 'no_rows']) {
    await t.sql.unsafe(
      `CREATE TABLE ${table} (id bigint NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
       CREATE TABLE ${table}_default PARTITION OF ${table} DEFAULT`,
    );
  }
  // A few stray rows: too few for autovacuum to analyze, so reltuples stays -1.
  await t.sql`INSERT INTO stray_rows SELECT g, '2001-01-15' FROM generate_series(1, 3) g`;
});

describe('pgparts_default_partition_rows before the first ANALYZE', () => {
  it('is at least 1 for a DEFAULT holding rows and 0 for an empty one, never NaN', async () => {
    const stats = await t.sql<{ name: string; n: number }[]>`
      SELECT relname AS name, reltuples::float8 AS n FROM pg_class
      WHERE relname IN ('stray_rows_default', 'no_rows_default') ORDER BY relname`;
    expect(stats.map((s) => s.n)).toEqual([-1, -1]);
    const text = await prometheusMetrics(t.db, [familyOf('stray_rows'), familyOf('no_rows')]);
    const parsed = parsePrometheusTextFormat(text) as Parsed[];
    const metric = parsed.find((p) => p.name === 'pgparts_default_partition_rows');
    const value = (table: string) =>
      Number(metric?.metrics.find((m) => m.labels?.table === table)?.value);
    // The README's alert (`> 0`) fires for the one, not the other.
    expect(value('stray_rows')).toBeGreaterThanOrEqual(1);
    expect(value('no_rows')).toBe(0);
  });
});
