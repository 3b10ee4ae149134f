import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { previewRetire, retireKey } from '../../src/ops/retention.js';
import { STILL_ATTACHED } from '../../src/ops/retire-statements.js';
import { apply } from '../../src/run/apply.js';
import { openTransaction } from '../support/open-transaction.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A DROP goes out right behind its plain DETACH (a DEFAULT partition rules out CONCURRENTLY),
 * before the DETACH has answered, its transaction led by a guard that refuses while the table is
 * still a partition. Checked here: the guard is what a dry run prints; when the DETACH cannot get
 * its lock and is tried again, the DROP sent behind it changes nothing, is sent again once the
 * DETACH went through, and the retire ends as one that never waited, nothing else lost.
 */
const family = parseFamily({
  name: 'behind_events',
  schema: 'behind',
  tables: ['events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 2 },
  defaultPartition: true,
});
const now = new Date('2026-03-15T12:00:00Z');
const JANUARY = { kind: 'range', from: new Date('2026-01-01Z'), to: new Date('2026-02-01Z') };
const NOT_JANUARY = `NOT (at >= '2026-01-01' AND at < '2026-02-01')`;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE SCHEMA behind;
    CREATE TABLE behind.events (id bigint NOT NULL, at timestamptz NOT NULL, body text,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at);`);
  expect((await apply(t.db, { families: [family], now })).failed).toBe(0);
  // January to March, and a row in DEFAULT (last year).
  await t.sql.unsafe(`
    INSERT INTO behind.events SELECT g, timestamptz '2026-01-01' + g * interval '1 hour', 'e' || g
      FROM generate_series(1, 24 * 70) g;
    INSERT INTO behind.events VALUES (0, '2025-06-01', 'stray');`);
});

describe('a DROP sent behind its DETACH', () => {
  it('is printed with its guard, and refused by it while the table is still a partition', async () => {
    const preview = await previewRetire(t.db, family, JANUARY as never, {
      mode: 'drop',
      archiveSchema: 'pgparts_archive',
      resuming: false,
    });
    const [detach, drop] = preview.units;
    expect(detach?.statements).toEqual([
      'ALTER TABLE "behind"."events" DETACH PARTITION "behind"."events_2026_01"',
    ]);
    expect(drop?.sendsBehind).toBe(true);
    const guard = drop?.statements[0] ?? '';
    expect(guard).toMatch(/^DO \$pgparts\$/);
    // Run on its own while January is attached: refused, with what it says.
    await expect(t.sql.unsafe(guard)).rejects.toMatchObject({
      code: '55000',
      message: `${STILL_ATTACHED}: "behind"."events_2026_01"`,
    });
  });

  it('goes again once a DETACH that waited for its lock went through; nothing else changes', async () => {
    const kept = await tableDigest(t.sql, 'behind.events', ['id', 'at'], NOT_JANUARY);
    // 70 days of hours from January 1st 01:00, of which January holds 743, and the stray row.
    expect(kept.rows).toBe(24 * 70 - 743 + 1);
    // An app transaction reading the table holds it: the DETACH waits lock_timeout, gives up,
    // and is tried again; the transaction ends when the first try has given up.
    const reader = await openTransaction(t.connect({ max: 1 }), [
      'SELECT count(*) FROM behind.events',
    ]);
    const sent: string[] = [];
    const client = t.connect({ max: 1, debug: (_c, query) => sent.push(query) });
    let retries = 0;
    const result = await retireKey(drizzle(client), family, JANUARY as never, {
      lockTimeoutMs: 200,
      retries: 3,
      onRetry: async () => {
        retries += 1;
        await reader.commit();
      },
    });
    expect(retries).toBe(1);
    expect(result.status).toBe('retired');
    expect(result.partitions.map((p) => p.partition)).toEqual(['events_2026_01']);
    // The DETACH twice (it waited, then went through), the guarded DROP twice (refused behind
    // the first, sent again after the second), in that order.
    const detaches = sent.flatMap((q, i) => (q.includes('DETACH PARTITION') ? [i] : []));
    const guards = sent.flatMap((q, i) => (q.includes(STILL_ATTACHED) ? [i] : []));
    expect(detaches).toHaveLength(2);
    expect(guards).toHaveLength(2);
    expect(guards[0]).toBeGreaterThan(detaches[0] ?? Infinity);
    expect(guards[0]).toBeLessThan(detaches[1] ?? -1);
    expect(guards[1]).toBeGreaterThan(detaches[1] ?? Infinity);

    const [gone] = await t.sql<{ t: string | null }[]>`
      SELECT to_regclass('behind.events_2026_01')::text AS t`;
    expect(gone?.t).toBeNull();
    expect(await tableDigest(t.sql, 'behind.events', ['id', 'at'])).toEqual(kept);
    const [records] = await t.sql<{ ops: number; retired: string[] }[]>`
      SELECT (SELECT count(*)::int FROM behind.pgparts_operations) AS ops,
             ARRAY(SELECT key FROM behind.pgparts_retired_keys ORDER BY key) AS retired`;
    expect(records).toEqual({ ops: 0, retired: ['2026-01-01..2026-02-01'] });
    await client.end();
  });
});
