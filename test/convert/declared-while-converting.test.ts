import { bigint, integer, pgTable, primaryKey } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
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
