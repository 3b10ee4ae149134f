import { bigint, integer, pgTable, primaryKey, timestamp } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { formatStatus } from '../../src/cli/format.js';
import { parseFamily } from '../../src/define/spec.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { status, unfinishedCounts } from '../../src/plan/status.js';
import { maintain } from '../../src/run/maintain.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A family's conversion takes its spec, so an app declares it in its config next to its other
 * families. Until the swap its tables are not partitioned: maintenance, status and plan refused
 * every family of the config for it (an app maintaining at start-up failed to boot). A family
 * whose conversion is recorded is now left alone, with a notice, and the others are kept; status
 * calls the conversion paused between its steps, not interrupted.
 */
const events = parseFamily({
  name: 'events',
  tables: ['events'],
  partitionBy: { strategy: 'list', column: 'kind', values: [1, 2] },
});
const orders = parseFamily({
  name: 'orders',
  tables: ['orders'],
  partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2] },
});
const ordersTable = pgTable(
  'orders',
  { id: bigint('id', { mode: 'number' }).notNull(), tenant: integer('tenant').notNull() },
  (x) => [primaryKey({ columns: [x.id, x.tenant] })],
);

describe('a family declared while its conversion runs', () => {
  it('is left alone by maintain and status, which keep the other families', async () => {
    await t.sql.unsafe(`
      CREATE TABLE events (id bigint NOT NULL, kind int NOT NULL, PRIMARY KEY (id, kind))
        PARTITION BY LIST (kind);
      CREATE TABLE orders (id bigint NOT NULL, tenant int NOT NULL, PRIMARY KEY (id, tenant));
      INSERT INTO orders SELECT g, 1 + g % 2 FROM generate_series(1, 100) g;`);
    // Not being converted: a mismatch, as before.
    expectPgpartsError(
      await rejection(maintain(t.db, { families: [events, orders] })),
      'spec-mismatch',
      { message: /table public\.orders is not partitioned/ },
    );
    await convertPrep(t.db, conversionTarget({ family: orders, tables: [ordersTable] }));
    const result = await maintain(t.db, { families: [events, orders] });
    expect(result.ok).toBe(true);
    expect(result.results.map((r) => [r.step.family, r.step.kind, r.outcome])).toEqual([
      ['events', 'create', 'done'],
      ['events', 'create', 'done'],
    ]);
    expect(result.plan?.notices.map((n) => [n.family, n.kind])).toContainEqual([
      'orders',
      'family-converting',
    ]);
    const report = status([events, orders], await inspect(t.db, [events, orders]));
    expect(report.attention.join('\n')).toMatch(/family orders is being converted \(phase /);
    // Between two steps, the conversion is paused, not interrupted.
    expect(report.attention.join('\n')).toMatch(
      /family orders: a conversion paused after its prep step \(started .*\); next: backfill/,
    );
    expect(report.attention.join('\n')).not.toMatch(/interrupted/);
    const orders_ = report.families.find((f) => f.family === 'orders');
    expect(orders_ && unfinishedCounts(orders_.unfinished)).toEqual({
      running: 0,
      interrupted: 0,
      paused: 1,
      unrecorded: 0,
    });
    expect(
      report.attention.filter(
        (l) => /orders/.test(l) && /partition/.test(l) && !/being converted/.test(l),
      ),
    ).toEqual([]);
  });
});

/** A monthly RANGE family converted from a plain table: nothing partitioned until the swap. */
const visits = parseFamily({
  name: 'visits',
  tables: ['visits'],
  partitionBy: { strategy: 'range', column: 'seen_at', interval: 'month', premake: 2, past: 1 },
});
const visitsTable = pgTable(
  'visits',
  {
    id: bigint('id', { mode: 'number' }).notNull(),
    seenAt: timestamp('seen_at', { withTimezone: true }).notNull(),
  },
  (x) => [primaryKey({ columns: [x.id, x.seenAt] })],
);

describe('a RANGE family paused in its conversion', () => {
  it('raises no premake alarm: its writes go to the legacy table, and apply leaves it alone', async () => {
    await t.sql.unsafe(`
      CREATE TABLE visits (id bigint NOT NULL, seen_at timestamptz NOT NULL, PRIMARY KEY (id, seen_at));
      INSERT INTO visits SELECT g, now() - g * interval '1 hour' FROM generate_series(1, 50) g;`);
    await convertPrep(t.db, conversionTarget({ family: visits, tables: [visitsTable] }));
    // Rows written now land in the legacy table, as before the conversion.
    await t.sql`INSERT INTO visits VALUES (51, now())`;
    const report = status([visits], await inspect(t.db, [visits]));
    // Not "no partition for the current month: rows written now fail; run pgparts apply".
    expect(report.attention.join('\n')).not.toMatch(/no partition for the current/);
    expect(report.families[0]?.tables[0]?.firstUncovered).toBeNull();
    expect(report.attention.join('\n')).toMatch(/family visits is being converted \(phase /);
    // No premake series for it: the shipped alert (pgparts_partitions_ahead < 1) would fire.
    const metrics = await prometheusMetrics(t.db, [visits]);
    expect(metrics).not.toMatch(/pgparts_partitions_ahead\{[^}]*family="visits"/);
    expect(metrics).toMatch(
      /pgparts_unfinished_operations\{family="visits",schema="public",state="paused"\} 1/,
    );
    // The operation line agrees with the attention line: paused, not interrupted.
    const text = formatStatus(report, 'status').join('\n');
    expect(text).toMatch(/operation: convert of .*, phase prepped, .*\(paused\)/);
    expect(text).not.toMatch(/\(interrupted\)/);
  });
});
