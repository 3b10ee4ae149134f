import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { resolveKey } from '../../src/cli/key-argument.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { retireDryRun, retireKey, retirePreviewSql, unretireKey } from '../../src/ops/retention.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A retired key stays retired: rows written for it afterwards land in DEFAULT, and a drain of
 * them would make its partition again, which the next apply --yes retires (a drop deleting the
 * rows). The drain refuses it, and status does not send anyone to drain it, nor a key that
 * retention would retire; its drain hint names the key as the CLI takes it.
 */
const docs = parseFamily({
  name: 'docs',
  schema: 'public',
  tables: ['docs'],
  partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2, 3, 4] },
  defaultPartition: true,
});
const now = new Date('2026-12-15T12:00:00Z');
const events = parseFamily({
  name: 'events',
  schema: 'public',
  tables: ['events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 1 },
  defaultPartition: true,
  retention: { keep: 2 },
});
const four = { kind: 'list', value: 4 } as const;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE docs (id bigint NOT NULL, tenant int NOT NULL, PRIMARY KEY (id, tenant))
      PARTITION BY LIST (tenant);
    CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);`);
  expect((await apply(t.db, { families: [docs, events], now })).failed).toBe(0);
  await t.sql.unsafe(`INSERT INTO docs SELECT g, 1 + g % 4 FROM generate_series(1, 400) g`);
  // Retired by hand (the spec lists it, hence force), then rows of it written again.
  expect((await retireKey(t.db, docs, four, { force: true })).status).toBe('retired');
  await t.sql.unsafe(`INSERT INTO docs SELECT g, 4 FROM generate_series(401, 450) g`);
  // A month retention would retire (before October), and one past the premake window.
  await t.sql.unsafe(`
    INSERT INTO events SELECT g, timestamptz '2026-06-10' + g * interval '1 minute' FROM generate_series(1, 20) g;
    INSERT INTO events SELECT g, timestamptz '2027-06-10' + g * interval '1 minute' FROM generate_series(21, 30) g;`);
});

describe('rows of a retired key in DEFAULT', () => {
  it('a drain of the key is refused (dry run and run), naming unretire; nothing changes', async () => {
    const before = await tableDigest(t.sql, 'docs', ['id']);
    for (const attempt of [() => drainDryRun(t.db, docs, four), () => drainKey(t.db, docs, four)]) {
      expectPgpartsError(await rejection(attempt()), 'refused', {
        message: /the key was retired \(dropped, .*pgparts unretire docs 4/s,
      });
    }
    expect(await tableDigest(t.sql, 'docs', ['id'])).toEqual(before);
    const [made] = await t.sql<{ t: string | null }[]>`SELECT to_regclass('docs_s4')::text AS t`;
    expect(made?.t).toBeNull();
  });

  it('status says the key is retired instead of sending anyone to drain it', async () => {
    const report = status([docs], await inspect(t.db, [docs]));
    const line = report.attention.find((l) => l.startsWith('docs_default holds'));
    expect(line).toMatch(/4 is retired \(pgparts_retired_keys\).*pgparts unretire docs 4 first/);
    expect(line).not.toMatch(/pgparts drain/);
  });

  it('once unretired, the drain moves its rows', async () => {
    expect(await unretireKey(t.db, docs, four)).toBe(true);
    expect(await drainKey(t.db, docs, four)).toMatchObject({ status: 'drained', rowsMoved: 50 });
  });
});

describe('status on rows of RANGE keys in DEFAULT', () => {
  it('tells a key outside the retention window from one to drain, which it names as the CLI takes it', async () => {
    const report = status([events], await inspect(t.db, [events], { now }), now);
    const line = report.attention.find((l) => l.startsWith('events_default holds')) ?? '';
    expect(line).toMatch(
      /2026-06-01\.\.2026-07-01 is outside the retention window: .*dropping the rows moved into it/,
    );
    expect(line).toMatch(/pgparts drain events 2027-06-01(?!\.)/);
    expect(resolveKey([events], 'events', '2027-06-01').key).toEqual(
      resolveKey([events], 'events', '2027-06-01..2027-07-01').key,
    );
    expect(() => resolveKey([events], 'events', '2027-06-01..2027-08-01')).toThrow(
      /is not one month/,
    );
  });
});

describe('status on rows of LIST keys in DEFAULT, with retention', () => {
  it('tells a value retention would retire from one to drain', async () => {
    const shards = parseFamily({
      name: 'shards',
      schema: 'public',
      tables: ['shard_data'],
      partitionBy: {
        strategy: 'list',
        column: 'shard',
        valuesFrom: { schema: 'public', table: 'shard', column: 'id' },
      },
      defaultPartition: true,
      retention: { keep: 2 },
    });
    await t.sql.unsafe(`
      CREATE TABLE shard (id int PRIMARY KEY);
      INSERT INTO shard VALUES (5), (6), (7);
      CREATE TABLE shard_data (id bigint NOT NULL, shard int NOT NULL, PRIMARY KEY (id, shard))
        PARTITION BY LIST (shard);`);
    expect((await apply(t.db, { families: [shards] })).failed).toBe(0);
    // Values no shard row names: 1 is older than the newest two, 9 is the newest of all.
    await t.sql.unsafe(`INSERT INTO shard_data VALUES (1, 1), (2, 9)`);
    const report = status([shards], await inspect(t.db, [shards]));
    const line = report.attention.find((l) => l.startsWith('shard_data_default holds')) ?? '';
    expect(line).toMatch(/1 is outside the retention window: .*dropping the rows moved into it/);
    expect(line).toMatch(/apply leaves 9 there, .*pgparts drain shard_data 9(?!\d)/);
  });
});

describe('a retire of a key with no partitions', () => {
  it('retired already: no statement in its dry run, as its run runs none and records nothing new', async () => {
    const three = { kind: 'list', value: 3 } as const;
    expect((await retireKey(t.db, docs, three, { force: true })).status).toBe('retired');
    const preview = await retireDryRun(t.db, docs, three, { force: true });
    expect(retirePreviewSql(preview)).toEqual([]);
    expect((await retireKey(t.db, docs, three, { force: true })).status).toBe('nothing-to-do');
    const [recorded] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_retired_keys WHERE family = 'docs' AND key = '3'`;
    expect(recorded?.n).toBe(1);
  });

  it('never made nor retired: refused as a typo (dry run and run), nothing recorded', async () => {
    const far = {
      kind: 'range',
      from: new Date('2029-01-01T00:00:00Z'),
      to: new Date('2029-02-01T00:00:00Z'),
    } as const;
    for (const attempt of [
      () => retireDryRun(t.db, events, far, { force: true }),
      () => retireKey(t.db, events, far, { force: true }),
    ]) {
      expectPgpartsError(await rejection(attempt()), 'invalid-input', {
        message:
          /retire: family events, key 2029-01-01\.\.2029-02-01: no table of the family has a partition of it, and it is not recorded as retired: there is nothing to retire \(a typo\?\); nothing was changed/,
      });
    }
    const [recorded] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_retired_keys WHERE family = 'events'`;
    expect(recorded?.n).toBe(0);
  });
});
