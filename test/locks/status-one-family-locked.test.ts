import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { inspectReadable } from '../../src/catalog/inspect-readable.js';
import { formatStatus } from '../../src/cli/format.js';
import { parseFamily } from '../../src/define/spec.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { pgpartsIn } from '../cli/run-cli.js';
import { openTransaction } from '../support/open-transaction.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * status and the metrics read every family at once; another session holding a lock on one
 * family's DEFAULT (a long ALTER, VACUUM FULL, LOCK TABLE) made that read give up, and the report
 * (or the scrape) failed for every family. Each family is now read on its own after that, and
 * only the one whose tables stay locked is reported as not read.
 */
const regions = parseFamily({
  name: 'regions',
  tables: ['region_orders'],
  partitionBy: { strategy: 'list', column: 'region', values: ['eu'] },
  defaultPartition: true,
});
const zones = parseFamily({
  name: 'zones',
  tables: ['zone_orders'],
  partitionBy: { strategy: 'list', column: 'zone', values: ['north'] },
  defaultPartition: true,
});
const lock = { lockTimeoutMs: 50, retries: 1, backoffMs: 10 };

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE region_orders (id bigint NOT NULL, region text NOT NULL,
      PRIMARY KEY (id, region)) PARTITION BY LIST (region);
    CREATE TABLE zone_orders (id bigint NOT NULL, zone text NOT NULL,
      PRIMARY KEY (id, zone)) PARTITION BY LIST (zone);`);
  expect((await apply(t.db, { families: [regions, zones] })).failed).toBe(0);
  await t.sql`INSERT INTO region_orders VALUES (1, 'zz')`;
  await t.sql`INSERT INTO zone_orders VALUES (1, 'south')`;
});

/** Another session's transaction holding ACCESS EXCLUSIVE on regions' DEFAULT until commit(). */
const lockRegionsDefault = () =>
  openTransaction(t.connect({ max: 1 }), [
    'LOCK TABLE region_orders_default IN ACCESS EXCLUSIVE MODE',
  ]);

describe("status and the metrics with one family's DEFAULT locked", () => {
  it('inspectReadable reads the other family, and says which one it could not read and why', async () => {
    const holder = await lockRegionsDefault();
    try {
      const read = await inspectReadable(t.db, [regions, zones], lock);
      expect(read.readable.map((f) => f.name)).toEqual(['zones']);
      expect(read.snapshot.families.map((f) => f.name)).toEqual(['zones']);
      const zoneTable = read.snapshot.families[0]?.tables[0];
      expect(zoneTable?.partitions.map((p) => p.name).sort()).toEqual([
        'zone_orders_default',
        'zone_orders_snorth',
      ]);
      expect(read.unreadable).toHaveLength(1);
      expect(read.unreadable[0]).toMatchObject({ family: 'regions', schema: 'public' });
      expectPgpartsError(read.unreadable[0]?.error, 'lock-timeout', {
        message: /reading the catalog \(DEFAULT partitions are probed\): gave up after 1 attempt/,
      });

      // One family, or every family locked: the read's error, as inspect throws it.
      expectPgpartsError(await rejection(inspectReadable(t.db, [regions], lock)), 'lock-timeout');
    } finally {
      await holder.commit();
    }
    const after = await inspectReadable(t.db, [regions, zones], lock);
    expect(after.readable.map((f) => f.name)).toEqual(['regions', 'zones']);
    expect(after.unreadable).toEqual([]);
  });

  it('prometheusMetrics gives the locked family pgparts_catalog_read_ok 0 and no other series', async () => {
    const holder = await lockRegionsDefault();
    let text: string;
    try {
      text = await prometheusMetrics(t.db, [regions, zones], lock);
    } finally {
      await holder.commit();
    }
    const lines = text.split('\n');
    expect(lines).toContain('pgparts_catalog_read_ok{family="regions",schema="public"} 0');
    expect(lines).toContain('pgparts_catalog_read_ok{family="zones",schema="public"} 1');
    expect(lines).toContain('pgparts_spec_mismatch{family="zones",schema="public"} 0');
    expect(lines).toContain(
      'pgparts_default_partition_rows{family="zones",schema="public",table="zone_orders"} 1',
    );
    expect(lines.filter((l) => !l.startsWith('#') && l.includes('family="regions"'))).toEqual([
      'pgparts_catalog_read_ok{family="regions",schema="public"} 0',
    ]);
  });

  it('pgparts status reports the other family and exits 1; --format prometheus exits 0', async () => {
    const app = mkdtempSync(join(tmpdir(), 'pgparts-one-locked-'));
    afterAll(() => rmSync(app, { recursive: true, force: true }));
    writeFileSync(
      join(app, 'pgparts.config.cjs'),
      `module.exports = { families: ${JSON.stringify([regions, zones])} };\n`,
    );
    const args = ['--lock-timeout', '50', '--retries', '1'];
    const holder = await lockRegionsDefault();
    try {
      const text = await pgpartsIn(app, t.url, 'status', ...args);
      expect(text.code, text.stderr).toBe(1);
      expect(text.stdout).toMatch(/^zones: /m);
      expect(text.stdout).toMatch(/zone_orders_snorth/);
      expect(text.stdout).toMatch(
        /^regions: not read \(public\): pgparts: reading the catalog \(DEFAULT partitions are probed\): gave up after 1 attempt/m,
      );
      // Not "all well" above a family it could not read.
      expect(text.stdout).not.toContain('all well');
      expect(text.stdout).toContain('\n  and 1 family(ies) could not be read (below)\n');
      // With nothing else to say, neither: the last line names what it could not read.
      const zonesOnly = { ...status([zones], await inspect(t.db, [zones])), attention: [] };
      expect(formatStatus(zonesOnly, 'h', 1).at(-1)).toBe(
        '1 family(ies) could not be read (below); nothing needs attention in the others',
      );
      expect(formatStatus(zonesOnly, 'h', 0).at(-1)).toBe('all well: nothing needs attention');

      const json = await pgpartsIn(app, t.url, 'status', '--json', ...args);
      expect(json.code, json.stderr).toBe(1);
      const report = JSON.parse(json.stdout) as {
        families: { family: string }[];
        unreadable: { family: string; schema: string; code: string; message: string }[];
      };
      expect(report.families.map((f) => f.family)).toEqual(['zones']);
      expect(report.unreadable).toEqual([
        {
          family: 'regions',
          schema: 'public',
          code: 'lock-timeout',
          message: expect.stringMatching(/gave up after 1 attempt/),
        },
      ]);

      const metrics = await pgpartsIn(app, t.url, 'status', '--format', 'prometheus', ...args);
      expect(metrics.code, metrics.stderr).toBe(0);
      expect(metrics.stdout).toContain(
        'pgparts_catalog_read_ok{family="regions",schema="public"} 0',
      );
    } finally {
      await holder.commit();
    }
  });
});
