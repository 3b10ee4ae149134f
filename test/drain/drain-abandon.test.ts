import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { abandonDrain } from '../../src/ops/drain/abandon.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A drain that fails the same way on every run (the identity columns of fix fb1b58b were one
 * such cause; here a CHECK on its staging table that rows in DEFAULT break). Its record said
 * "the next pgparts apply finishes it" for good, kept the family's other drains refused and its
 * capture trigger logging every write, and nothing but hand-written SQL got rid of it. Now the
 * record says how the last run failed, the error and status say how to give the drain up, and
 * abandonDrain (`pgparts drain --abandon`) does, without changing a row.
 */
const family = parseFamily({
  name: 'ab_items',
  tables: ['ab_items'],
  partitionBy: { strategy: 'list', column: 'k', values: [1] },
  defaultPartition: true,
});
const key = (value: number) => ({ kind: 'list', value }) as const;
const digest = () => tableDigest(t.sql, 'ab_items', ['k', 'id']);

/** What a drain leaves: tables pgparts made for it, triggers, log entries, records. */
async function leftovers() {
  const [row] = await t.sql<{ tables: string[]; triggers: number; log: number; records: number }[]>`
    SELECT (SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}') FROM pg_class
             WHERE relname IN ('ab_items_s2', 'ab_items_default_next')) AS tables,
           (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'ab_items_default'::regclass
              AND NOT tgisinternal) AS triggers,
           (SELECT count(*)::int FROM pgparts_changes) AS log,
           (SELECT count(*)::int FROM pgparts_operations) AS records`;
  return row;
}

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE ab_items (k integer NOT NULL, id integer NOT NULL, v text,
      PRIMARY KEY (k, id)) PARTITION BY LIST (k)`);
  expect((await apply(t.db, { families: [family] })).failed).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO ab_items SELECT 1 + g % 3, g, CASE WHEN g % 100 = 1 THEN 'bad' ELSE 'x' || g END
    FROM generate_series(1, 3000) g`);
});

describe('a drain that fails on every run', () => {
  it('says so and how to give it up; abandonDrain drops what it made, no row changes', async () => {
    const before = await digest();
    // Stopped after its prepare by a cancel (a passing failure): the next run finishes it.
    const canceled = Object.assign(new Error('canceling statement due to user request'), {
      code: '57014',
    });
    await expect(
      drainKey(t.db, family, key(2), {
        strategy: 'swap',
        onPhase: (phase) => {
          if (phase === 'prepared') throw canceled;
        },
      }),
    ).rejects.toThrow();
    const interrupted = status([family], await inspect(t.db, [family])).attention.join('\n');
    expect(interrupted).toMatch(
      /interrupted drain of 2 \(phase prepared.*the next pgparts apply finishes it/,
    );
    // Now something every run meets: a CHECK on its staging table that rows of the key break.
    await t.sql.unsafe(
      `ALTER TABLE ab_items_s2 ADD CONSTRAINT no_bad CHECK (v <> 'bad') NOT VALID`,
    );
    const failure = await rejection(drainKey(t.db, family, key(2), { strategy: 'swap' }));
    expectPgpartsError(failure, 'query-failed', {
      message:
        /violates check constraint "no_bad".*the drain stays recorded.*To give it up instead, without losing a row: pgparts drain --abandon ab_items 2$/s,
    });
    // apply says it alike, every run.
    const applied = await apply(t.db, { families: [family] });
    expect(applied.failed).toBe(1);
    expect(applied.results.find((r) => r.outcome === 'failed')?.message).toMatch(
      /pgparts drain --abandon ab_items 2/,
    );
    const report = status([family], await inspect(t.db, [family])).attention.join('\n');
    expect(report).toMatch(
      /a drain of 2 that fails \(phase prepared.*its last run failed \d{4}-.*violates check constraint "no_bad".*apply tries it again and fails alike.*pgparts drain --abandon ab_items 2/s,
    );
    expect(report).not.toMatch(/the next pgparts apply finishes it/);
    // The family's other keys wait for it.
    expectPgpartsError(await rejection(drainKey(t.db, family, key(3))), 'busy');
    // Writes go on, logged by the capture trigger.
    await t.sql`UPDATE ab_items SET v = 'changed' WHERE k = 2 AND id < 100`;
    const written = await digest();
    expect(written).not.toEqual(before);
    expect(await leftovers()).toMatchObject({
      tables: ['ab_items_default_next', 'ab_items_s2'],
      // The capture trigger and its TRUNCATE guard.
      triggers: 2,
      records: 1,
    });

    const dry = await abandonDrain(t.db, family, key(2), { dryRun: true });
    expect(dry).toMatchObject({
      status: 'abandoned',
      dryRun: true,
      dropped: ['ab_items_default_next', 'ab_items_s2'],
      captureDropped: ['ab_items_default'],
    });
    expect(dry.statements).toContain('DROP TABLE "public"."ab_items_s2"');
    expect(dry.statements).toContain('DROP TABLE "public"."ab_items_default_next"');
    expect((await leftovers())?.records).toBe(1);

    const done = await abandonDrain(t.db, family, key(2));
    expect(done).toMatchObject({
      status: 'abandoned',
      dryRun: false,
      dropped: ['ab_items_default_next', 'ab_items_s2'],
      captureDropped: ['ab_items_default'],
      captureKept: [],
    });
    expect(await leftovers()).toEqual({ tables: [], triggers: 0, log: 0, records: 0 });
    // Not a row changed: every one still in DEFAULT, as written.
    expect(await digest()).toEqual(written);
    expect(await tableDigest(t.sql, 'ab_items_default', ['k', 'id'], 'k = 2')).toEqual(
      await tableDigest(t.sql, 'ab_items', ['k', 'id'], 'k = 2'),
    );
    const after = status([family], await inspect(t.db, [family])).attention.join('\n');
    expect(after).not.toMatch(/drain of 2|left by an interrupted drain/);
    // Nothing left to abandon; the family's other drains go on.
    expect((await abandonDrain(t.db, family, key(2))).status).toBe('nothing-to-do');
    const expected3 = await tableDigest(t.sql, 'ab_items', ['k', 'id'], 'k = 3');
    expect(await drainKey(t.db, family, key(3))).toMatchObject({
      status: 'drained',
      rowsMoved: 1000,
    });
    expect(await tableDigest(t.sql, 'ab_items_s3', ['k', 'id'])).toEqual(expected3);
    expect(await digest()).toEqual(written);
  });

  it('is refused once the drain committed, and a drain of the key finishes what is left', async () => {
    await t.sql`INSERT INTO ab_items SELECT 4, g, 'y' FROM generate_series(1, 200) g`;
    const before = await digest();
    const stop = new Error('stopped after the commit');
    await expect(
      drainKey(t.db, family, key(4), {
        strategy: 'swap',
        onPhase: (phase) => {
          if (phase === 'validating') throw stop;
        },
      }),
    ).rejects.toBe(stop);
    expectPgpartsError(await rejection(abandonDrain(t.db, family, key(4))), 'refused', {
      message: /final transaction committed.*nothing was changed.*pgparts drain ab_items 4/,
    });
    expectPgpartsError(
      await rejection(abandonDrain(t.db, family, key(4), { dryRun: true })),
      'refused',
    );
    expect((await leftovers())?.records).toBe(1);
    expect(await drainKey(t.db, family, key(4))).toMatchObject({ status: 'completed' });
    expect(await digest()).toEqual(before);
    expect(await tableDigest(t.sql, 'ab_items_s4', ['k', 'id'])).toMatchObject({ rows: 200 });
    expect(await leftovers()).toMatchObject({ tables: [], triggers: 0, records: 0 });
  });
});
