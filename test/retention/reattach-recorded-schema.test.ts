import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A key archived into a schema other than the spec's (`retire --archive-schema`) is recorded
 * with it. Reattach looked in the spec's schema only ("nothing archived for this key") unless
 * given the schema again; it now reads the record.
 */
const family = parseFamily({
  name: 'events',
  tables: ['events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0, past: 2 },
});
const jan = {
  kind: 'range',
  from: new Date('2026-01-01T00:00:00Z'),
  to: new Date('2026-02-01T00:00:00Z'),
} as const;

describe('reattach of a key archived into another schema', () => {
  it('finds it where the retire recorded it; every row is back', async () => {
    await t.sql.unsafe(`
      CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);`);
    expect(
      (await apply(t.db, { families: [family], now: new Date('2026-03-15T00:00:00Z') })).failed,
    ).toBe(0);
    await t.sql.unsafe(
      `INSERT INTO events SELECT g, timestamptz '2026-01-01' + g * interval '1 hour' FROM generate_series(1, 500) g`,
    );
    const before = await tableDigest(t.sql, 'events', ['id']);
    const retired = await retireKey(t.db, family, jan, {
      mode: 'archive',
      archiveSchema: 'Old Stuff',
      force: true,
    });
    expect(retired.partitions[0]?.archivedAs).toBe('Old Stuff.events_2026_01');
    const back = await reattachKey(t.db, family, jan);
    expect(back.partitions.map((p) => p.partition)).toEqual(['events_2026_01']);
    expect(await tableDigest(t.sql, 'events', ['id'])).toEqual(before);
  });
});
