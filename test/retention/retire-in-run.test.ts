import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { previewRetire, retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { openTransaction } from '../support/open-transaction.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { recordingDatabase } from '../support/recording.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A retire as a step of apply sends fewer statements than it used to (its operation record
 * written in the preflight's transaction, the key recorded retired with its last drop): what
 * must not change is checked here. The record is written only once the preflight passed; the
 * preflight never takes the ownership record's table on trust; the key is recorded retired and
 * the operation's record deleted in the transaction of the last DROP, so a retire is recorded
 * finished exactly when it is.
 */
const family = parseFamily({
  name: 'run_events',
  schema: 'retire_run',
  tables: ['events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 1 },
  defaultPartition: true,
  retention: { keep: 2, mode: 'drop' },
});
const setupNow = new Date('2026-01-15T12:00:00Z');
const runNow = new Date('2026-04-15T12:00:00Z');
const JANUARY = `at >= '2026-01-01' AND at < '2026-02-01'`;

async function operationsRows(): Promise<number> {
  const [found] = await t.sql<{ t: string | null }[]>`
    SELECT to_regclass('retire_run.pgparts_operations')::text AS t`;
  if (!found?.t) return 0;
  const [row] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM retire_run.pgparts_operations`;
  return row?.n ?? 0;
}

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE SCHEMA retire_run;
    CREATE TABLE retire_run.events (id bigint NOT NULL, at timestamptz NOT NULL, body text,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at);`);
  const setup = await apply(t.db, { families: [family], now: setupNow });
  expect(setup.failed).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO retire_run.events SELECT g, timestamptz '2026-01-02' + g * interval '1 hour', 'jan'
    FROM generate_series(1, 200) g;`);
});

describe('retire as a step of apply', () => {
  it('refused by its preflight (a view on the partition): no operation record, nothing changed; then retired with the key recorded and no record left', async () => {
    const [made] = await t.sql<{ tables: (string | null)[] }[]>`
      SELECT ARRAY[to_regclass('retire_run.pgparts_owned_tables')::text,
                   to_regclass('retire_run.pgparts_ownership_adopted')::text,
                   to_regclass('retire_run.pgparts_operations')::text,
                   to_regclass('retire_run.pgparts_retired_keys')::text] AS tables`;
    expect(made?.tables).toEqual([
      'retire_run.pgparts_owned_tables',
      'retire_run.pgparts_ownership_adopted',
      'retire_run.pgparts_operations',
      'retire_run.pgparts_retired_keys',
    ]);
    await t.sql.unsafe('CREATE VIEW retire_run.january AS SELECT * FROM retire_run.events_2026_01');
    const before = await tableDigest(t.sql, 'retire_run.events', ['id', 'at'], JANUARY);
    expect(before.rows).toBe(200);
    const refused = await apply(t.db, { families: [family], now: runNow, allowDestructive: true });
    const step = refused.results.find(
      (r) => r.step.kind === 'retire' && r.step.label === '2026-01-01..2026-02-01',
    );
    expect(step?.outcome).toBe('failed');
    expect(step?.message).toMatch(/retire_run\.january depends on/);
    expect(await operationsRows()).toBe(0);
    expect(await tableDigest(t.sql, 'retire_run.events', ['id', 'at'], JANUARY)).toEqual(before);

    await t.sql.unsafe('DROP VIEW retire_run.january');
    const rec = recordingDatabase(t);
    const done = await apply(rec.db, { families: [family], now: runNow, allowDestructive: true });
    await rec.close();
    expect(done.results.filter((r) => r.step.kind === 'retire').map((r) => r.outcome)).toEqual([
      'done',
    ]);
    expect(await operationsRows()).toBe(0);
    const retired = await t.sql<{ key: string; mode: string }[]>`
      SELECT key, mode FROM retire_run.pgparts_retired_keys WHERE family = 'run_events' ORDER BY key`;
    expect(retired).toEqual([
      { key: '2025-12-01..2026-01-01', mode: 'drop' },
      { key: '2026-01-01..2026-02-01', mode: 'drop' },
    ]);
    const [gone] = await t.sql<{ t: string | null }[]>`
      SELECT to_regclass('retire_run.events_2026_01')::text AS t`;
    expect(gone?.t).toBeNull();

    // The DROP, the key's record and the operation record's deletion: one transaction.
    const sent = rec.statements.map((s) => s.replace(/\s+/g, ' ').trim());
    // The setup's apply, the family's first change, made every bookkeeping table: the retire
    // makes none on its way (no DDL of its own in its record's or its DROP's transaction).
    expect(sent.filter((s) => /^CREATE TABLE/i.test(s))).toEqual([]);
    const drop = sent.indexOf('DROP TABLE "retire_run"."events_2026_01"');
    expect(drop).toBeGreaterThan(0);
    const begin = sent.lastIndexOf('BEGIN', drop);
    const commit = sent.indexOf('COMMIT', drop);
    const inside = sent.slice(begin, commit);
    expect(
      inside.some((s) => s.startsWith('INSERT INTO "retire_run"."pgparts_retired_keys"')),
    ).toBe(true);
    expect(inside.some((s) => s.startsWith('DELETE FROM "retire_run"."pgparts_operations"'))).toBe(
      true,
    );
    // The operation's record was written in the DETACH's own transaction, ahead of it: the
    // partition is never detached without its record.
    const detach = sent.findIndex((s) =>
      s.startsWith(
        'ALTER TABLE "retire_run"."events" DETACH PARTITION "retire_run"."events_2026_01"',
      ),
    );
    const recorded = sent.findIndex((s) =>
      /INSERT INTO "retire_run"\."pgparts_operations"/.test(s),
    );
    expect(recorded).toBeGreaterThan(0);
    expect(recorded).toBeLessThan(detach);
    expect(sent.slice(recorded, detach)).not.toContain('COMMIT');
    expect(sent.lastIndexOf('BEGIN', detach)).toBeLessThan(recorded);
    expect(sent.indexOf('COMMIT', detach)).toBeGreaterThan(detach);
  });

  it('a last transaction that could not get its lock is rolled back whole and retried: the table, its ownership row and the record stay as they were until it commits', async () => {
    // Another session holds the retired keys' table: the retire's last transaction (its DROP,
    // the key's record, the end of its operation record) cannot take it and gives up at once.
    const holder = await openTransaction(t.connect({ max: 1 }), [
      'LOCK TABLE retire_run.pgparts_retired_keys IN EXCLUSIVE MODE',
    ]);
    const february = {
      kind: 'range',
      from: new Date('2026-02-01T00:00:00Z'),
      to: new Date('2026-03-01T00:00:00Z'),
    } as const;
    const seen: { table: string | null; owned: number; phase: string | undefined }[] = [];
    const retired = await retireKey(t.db, family, february, {
      lockTimeoutMs: 100,
      retries: 10,
      onRetry: async () => {
        const [row] = await t.sql<{ table: string | null; owned: number }[]>`
          SELECT to_regclass('retire_run.events_2026_02')::text AS table,
                 (SELECT count(*)::int FROM retire_run.pgparts_owned_tables
                   WHERE name = 'events_2026_02') AS owned`;
        const [op] = await t.sql<{ phase: string }[]>`
          SELECT phase FROM retire_run.pgparts_operations WHERE key = '2026-02-01..2026-03-01'`;
        seen.push({ table: row?.table ?? null, owned: row?.owned ?? 0, phase: op?.phase });
        await holder.commit();
      },
    });
    expect(retired).toMatchObject({ status: 'retired' });
    // The attempt that gave up changed nothing: the detached table and its ownership row were
    // there, the operation's record still at the phase before that transaction.
    expect(seen).toEqual([
      { table: 'retire_run.events_2026_02', owned: 1, phase: 'detach events_2026_02' },
    ]);
    expect(await operationsRows()).toBe(0);
    const [after] = await t.sql<{ table: string | null; owned: number; recorded: number }[]>`
      SELECT to_regclass('retire_run.events_2026_02')::text AS table,
             (SELECT count(*)::int FROM retire_run.pgparts_owned_tables
               WHERE name = 'events_2026_02') AS owned,
             (SELECT count(*)::int FROM retire_run.pgparts_retired_keys
               WHERE key = '2026-02-01..2026-03-01') AS recorded`;
    expect(after).toEqual({ table: null, owned: 0, recorded: 1 });
  });

  it('the preflight does not take the ownership table on trust: told it exists where it does not, it still refuses a partition pgparts did not make', async () => {
    const other = parseFamily({ ...family, name: 'bare_events', schema: 'retire_bare' });
    await t.sql.unsafe(`
      CREATE SCHEMA retire_bare;
      CREATE TABLE retire_bare.events (id bigint NOT NULL, at timestamptz NOT NULL, body text,
        PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE retire_bare.events_2026_01 PARTITION OF retire_bare.events
        FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
      COMMENT ON TABLE retire_bare.events_2026_01 IS 'pgparts:managed';`);
    const january = {
      kind: 'range',
      from: new Date('2026-01-01Z'),
      to: new Date('2026-02-01Z'),
    } as const;
    const refusal = await rejection(
      previewRetire(t.db, other, january, {
        mode: 'drop',
        archiveSchema: 'pgparts_archive',
        resuming: false,
        ownedTableExists: true,
      }),
    );
    expectPgpartsError(refusal, 'refused', { message: /not created by pgparts/ });
    const [still] = await t.sql<{ t: string | null }[]>`
      SELECT to_regclass('retire_bare.events_2026_01')::text AS t`;
    expect(still?.t).toBe('retire_bare.events_2026_01');
  });
});
