import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { pgpartsIn } from '../cli/run-cli.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * One family whose spec does not match the database (its table not migrated yet, say) made
 * status and the metrics throw for every family: monitoring lost sight of the healthy ones (and
 * of their premake running out) until it was fixed. They now report every other family, with the
 * mismatch as a problem of its own; plan and apply still refuse to run.
 */
const events = {
  name: 'events',
  tables: ['events'],
  partitionBy: { strategy: 'range' as const, column: 'at', interval: 'month' as const, premake: 2 },
};
const orders = {
  name: 'orders',
  tables: ['orders'],
  partitionBy: { strategy: 'list' as const, column: 'region', values: ['eu'] },
};
const eventsFamily = parseFamily(events);
const families = [eventsFamily, parseFamily(orders)];
const app = mkdtempSync(join(tmpdir(), 'pgparts-mismatch-'));
afterAll(() => rmSync(app, { recursive: true, force: true }));

describe('a family whose spec does not match the database', () => {
  it('is reported as such by status and the metrics, beside the others; apply still refuses', async () => {
    await t.sql.unsafe(`
      CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, PRIMARY KEY (id, region));`);
    expect((await apply(t.db, { families: [eventsFamily] })).failed).toBe(0);

    const report = status(families, await inspect(t.db, families));
    expect(report.families.map((f) => f.family)).toEqual(['events']);
    expect(report.families[0]?.tables[0]?.partitions.length).toBeGreaterThan(0);
    expect(report.mismatched).toEqual([
      {
        family: 'orders',
        schema: 'public',
        problems: ['table public.orders is not partitioned; it must be LIST (region)'],
      },
    ]);
    expect(report.attention).toContain(
      'family orders: table public.orders is not partitioned; it must be LIST (region)',
    );

    const metrics = await prometheusMetrics(t.db, families);
    expect(metrics).toContain('pgparts_spec_mismatch{family="orders",schema="public"} 1');
    expect(metrics).toContain('pgparts_spec_mismatch{family="events",schema="public"} 0');
    expect(metrics).toMatch(
      /pgparts_partitions_ahead\{family="events",schema="public",table="events"\} 2/,
    );

    // The CLI: the healthy family printed, the mismatch among the attention lines, exit 1; the
    // metrics format exits 0 (the mismatch is a metric).
    writeFileSync(
      join(app, 'pgparts.config.cjs'),
      `module.exports = { families: ${JSON.stringify([events, orders])} };\n`,
    );
    const text = await pgpartsIn(app, t.url, 'status');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('events: RANGE by at, one month each, premake 2');
    expect(text.stdout).toContain(
      'table public.orders is not partitioned; it must be LIST (region)',
    );
    const scraped = await pgpartsIn(app, t.url, 'status', '--format', 'prometheus');
    expect(scraped.code, scraped.stderr).toBe(0);
    // The metrics are the report and the alert: another report or exit code asked with them is
    // refused, not ignored.
    for (const flag of ['--check', '--json']) {
      const both = await pgpartsIn(app, t.url, 'status', '--format', 'prometheus', flag);
      expect(both.code).toBe(1);
      expect(both.stdout).toBe('');
      expect(both.stderr).toContain(`status --format prometheus cannot be combined with ${flag}`);
    }
    expect(scraped.stdout).toContain('pgparts_spec_mismatch{family="orders",schema="public"} 1');

    // Acting is still refused for every family while one mismatches.
    expectPgpartsError(await rejection(apply(t.db, { families })), 'spec-mismatch', {
      message: /table public\.orders is not partitioned/,
    });
  });

  it('a listed value whose partition name a key of the database has already: that family only', async () => {
    const regions = {
      name: 'regions',
      tables: ['region_sales'],
      partitionBy: { strategy: 'list' as const, column: 'region', values: ['us'] },
      defaultPartition: true,
    };
    await t.sql.unsafe(`
      CREATE TABLE region_sales (id bigint NOT NULL, region text NOT NULL, PRIMARY KEY (id, region))
        PARTITION BY LIST (region);`);
    expect((await apply(t.db, { families: [parseFamily(regions)] })).failed).toBe(0);
    // 'Eu West' got its partition (as a drain of it out of DEFAULT makes it): region_sales_seu_west.
    await t.sql.unsafe(`
      CREATE TABLE region_sales_seu_west PARTITION OF region_sales FOR VALUES IN ('Eu West');
      COMMENT ON TABLE region_sales_seu_west IS 'pgparts:managed';`);
    const clash = parseFamily({
      ...regions,
      partitionBy: { ...regions.partitionBy, values: ['us', 'eu-west'] },
    });
    const both = [eventsFamily, clash];
    const report = status(both, await inspect(t.db, both));
    expect(report.families.map((f) => f.family)).toEqual(['events']);
    expect(report.mismatched).toEqual([
      {
        family: 'regions',
        schema: 'public',
        problems: [
          expect.stringMatching(
            /LIST values "(eu-west|Eu West)" and "(eu-west|Eu West)" both give the partition name region_sales_seu_west/,
          ),
        ],
      },
    ]);
    const metrics = await prometheusMetrics(t.db, both);
    expect(metrics).toContain('pgparts_spec_mismatch{family="regions",schema="public"} 1');
    expect(metrics).toContain('pgparts_spec_mismatch{family="events",schema="public"} 0');
    expectPgpartsError(await rejection(apply(t.db, { families: both })), 'spec-mismatch', {
      message: /both give the partition name region_sales_seu_west/,
    });
  });
});
