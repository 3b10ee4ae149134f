import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireDryRun, retireKey, retirePreviewSql } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * The server prints a partition bound by the key column's type: a `timestamp` bound without an
 * offset, a `date` bound as a date, a `bigint` LIST value quoted. Retire, reattach and drain prove
 * a partition holds its key by its bound; they must read every printing as the key it is, or a
 * family on such a column could never retire (every cron apply failing) nor drain a key twice.
 */
const now = new Date('2026-12-15T12:00:00Z');
const month = (y: number, m: number) =>
  ({
    kind: 'range',
    from: new Date(Date.UTC(y, m - 1, 1)),
    to: new Date(Date.UTC(y, m, 1)),
  }) as const;

const rangeFamily = (name: string, table: string) =>
  parseFamily({
    name,
    schema: 'public',
    tables: [table],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 3 },
    defaultPartition: true,
    retention: { keep: 4, mode: 'archive' },
  });
const invoices = rangeFamily('invoices', 'invoices');
const visits = rangeFamily('visits', 'visits');
const docs = parseFamily({
  name: 'docs',
  schema: 'public',
  tables: ['docs'],
  partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2, 3] },
  defaultPartition: true,
});

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE invoices (id bigint NOT NULL, at timestamp NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);
    CREATE TABLE visits (id bigint NOT NULL, at date NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);
    CREATE TABLE docs (id bigint NOT NULL, tenant bigint NOT NULL, PRIMARY KEY (id, tenant))
      PARTITION BY LIST (tenant);`);
  const applied = await apply(t.db, { families: [invoices, visits, docs], now });
  expect(applied.failed).toBe(0);
  // A row a day from 2026-09-01 to 2027-01-31 (September: 30 rows, October: 31, ...).
  for (const table of ['invoices', 'visits']) {
    await t.sql.unsafe(`
      INSERT INTO ${table}
      SELECT g, timestamp '2026-09-01' + (g - 1) * interval '1 day'
      FROM generate_series(1, 153) g`);
  }
  await t.sql.unsafe(`INSERT INTO docs SELECT g, 1 + g % 4 FROM generate_series(1, 400) g`);
});

async function rowsIn(partition: string): Promise<number | null> {
  const [row] = await t.sql<{ n: number | null }[]>`
    SELECT CASE WHEN to_regclass(${partition}::text) IS NULL THEN NULL
           ELSE (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', ${partition}::text), false, true, '')))[1]::text::int END AS n`;
  return row?.n ?? null;
}

describe.each([
  ['timestamp', invoices, 'invoices'],
  ['date', visits, 'visits'],
])('a RANGE family on a %s column', (_type, family, table) => {
  it('retires a month to the archive (dry run, then run) and reattaches it, every row kept', async () => {
    const before = await tableDigest(t.sql, table, ['id']);
    const preview = await retireDryRun(t.db, family, month(2026, 9));
    expect(retirePreviewSql(preview).join('\n')).toContain(
      `DETACH PARTITION "public"."${table}_2026_09"`,
    );
    const retired = await retireKey(t.db, family, month(2026, 9));
    expect(retired.partitions).toEqual([
      expect.objectContaining({ partition: `${table}_2026_09`, archivedAs: expect.any(String) }),
    ]);
    expect(await rowsIn(`pgparts_archive.${table}_2026_09`)).toBe(30);
    expect(await rowsIn(`public.${table}_2026_09`)).toBeNull();
    await reattachKey(t.db, family, month(2026, 9));
    expect(await rowsIn(`public.${table}_2026_09`)).toBe(30);
    expect(await tableDigest(t.sql, table, ['id'])).toEqual(before);
  });

  it('apply retires what retention asks for, and a drain of a key that has its partition finds nothing to move', async () => {
    const result = await apply(t.db, {
      families: [family],
      now: new Date('2027-02-15T00:00:00Z'),
      allowDestructive: true,
    });
    expect(result.results.filter((r) => r.outcome === 'failed')).toEqual([]);
    // Four months kept before the current one (October to January): September goes again.
    expect(
      result.results.filter((r) => r.step.kind === 'retire').map((r) => [r.step.label, r.outcome]),
    ).toEqual([['2026-09-01..2026-10-01', 'done']]);
    expect(await rowsIn(`public.${table}_2026_09`)).toBeNull();
    expect(await rowsIn(`pgparts_archive.${table}_2026_09`)).toBe(30);
    const drained = await drainKey(t.db, family, month(2026, 12));
    expect(drained.status).toBe('nothing-to-do');
  });
});

describe('a LIST family on a bigint column', () => {
  it('drains a value out of DEFAULT, then retires it (drop): only its rows go', async () => {
    const four = { kind: 'list', value: 4 } as const;
    const others = await t.sql<{ n: number; sum: string }[]>`
      SELECT count(*)::int AS n, sum(id)::text AS sum FROM docs WHERE tenant <> 4`;
    expect(await drainKey(t.db, docs, four)).toMatchObject({ status: 'drained', rowsMoved: 100 });
    expect((await drainKey(t.db, docs, four)).status).toBe('nothing-to-do');
    const retired = await retireKey(t.db, docs, { kind: 'list', value: 1 }, { force: true });
    expect(retired.partitions.map((p) => [p.partition, p.archivedAs])).toEqual([['docs_s1', null]]);
    const after = await t.sql<{ n: number; sum: string }[]>`
      SELECT count(*)::int AS n, sum(id)::text AS sum FROM docs WHERE tenant NOT IN (1, 4)`;
    const [tenantOne] = await t.sql<{ n: number; sum: string }[]>`
      SELECT count(*)::int AS n, sum(id)::text AS sum FROM generate_series(1, 400) id WHERE 1 + id % 4 = 1`;
    expect(after[0]?.n).toBe((others[0]?.n ?? 0) - (tenantOne?.n ?? 0));
    expect(await rowsIn('public.docs_s4')).toBe(100);
  });
});
