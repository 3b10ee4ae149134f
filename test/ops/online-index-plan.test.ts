import { describe, expect, it } from 'vitest';
import { isPgpartsError } from '../../src/errors.js';
import {
  type IndexBuildSnapshot,
  type OnlineIndexSpecInput,
  onlineIndexSpecSchema,
  parseOnlineIndexMigration,
  partitionIndexName,
  planIndexBuild,
  renderOnlineIndexMigration,
} from '../../src/ops/online-index.js';
import type { PartitionIndexFacts } from '../../src/ops/online-index-plan.js';
import { identifierSchema } from '../../src/sql/identifiers.js';
import { partitionIndexFacts as index } from './online-index-support.js';

const spec = onlineIndexSpecSchema.parse({
  table: { name: 'events' },
  name: 'events_kind_idx',
  columns: [{ column: 'kind' }],
} satisfies OnlineIndexSpecInput);

function snapshot(
  partitions: [string, PartitionIndexFacts[]][],
  parent = false,
): IndexBuildSnapshot {
  return {
    table: { partitioned: true, partitionKey: ['tenant_id'] },
    parentIndex: parent
      ? { ...index('events_kind_idx', { valid: false }), relkind: 'I', onTable: true }
      : undefined,
    partitions: partitions.map(([name, indexes]) => ({
      schema: 'public',
      name,
      relkind: 'r',
      isDefault: name.endsWith('default'),
      indexes,
    })),
  };
}

describe('partition index names', () => {
  it("put the partition's name in place of the parent's, or in front", () => {
    expect(partitionIndexName(spec, 'events_2026_01')).toBe('events_2026_01_kind_idx');
    expect(partitionIndexName({ ...spec, name: 'by_kind' }, 'events_1')).toBe('events_1_by_kind');
  });

  it('fit 63 bytes and stay distinct when cut (a hash of the whole name ends them)', () => {
    const long = { ...spec, name: `events_${'k'.repeat(50)}` };
    const a = partitionIndexName(long, 'events_2026_01_01');
    const b = partitionIndexName(long, 'events_2026_01_02');
    expect(Buffer.byteLength(a)).toBeLessThanOrEqual(63);
    expect(Buffer.byteLength(b)).toBeLessThanOrEqual(63);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^events_2026_01_01_k+_[0-9a-f]{8}$/);
    expect(identifierSchema.safeParse(a).success).toBe(true);
  });
});

describe('planIndexBuild', () => {
  it('plans the parent index ON ONLY, each partition concurrently, then the attaches', () => {
    const plan = planIndexBuild(
      spec,
      snapshot([
        ['events_1', []],
        ['events_default', []],
      ]),
      {
        lockTimeoutMs: 500,
      },
    );
    expect(plan.statements.map((s) => s.sql)).toEqual([
      "SET lock_timeout = '500ms'",
      'CREATE INDEX IF NOT EXISTS "events_kind_idx" ON ONLY "public"."events" ("kind")',
      "SET lock_timeout = '60000ms'",
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_1_kind_idx" ON "public"."events_1" ("kind")',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_default_kind_idx" ON "public"."events_default" ("kind")',
      "SET lock_timeout = '500ms'",
      'ALTER INDEX "public"."events_kind_idx" ATTACH PARTITION "public"."events_1_kind_idx"',
      'ALTER INDEX "public"."events_kind_idx" ATTACH PARTITION "public"."events_default_kind_idx"',
      'RESET lock_timeout',
    ]);
    expect(plan.complete).toBe(false);
  });

  it('resumes: skips what is attached, drops and rebuilds INVALID leftovers, attaches built ones', () => {
    const plan = planIndexBuild(
      spec,
      snapshot(
        [
          ['events_1', [index('events_1_kind_idx', { attached: true })]],
          ['events_2', [index('events_2_kind_idx', { valid: false })]],
          ['events_3', [index('events_3_kind_idx')]],
          // Someone else's invalid index is not pgparts's to drop.
          ['events_4', [index('events_4_other', { valid: false })]],
        ],
        true,
      ),
    );
    expect(plan.statements.map((s) => [s.kind, s.partition?.name])).toEqual([
      ['set-lock-timeout', undefined],
      ['drop-invalid-index', 'events_2'],
      ['create-partition-index', 'events_2'],
      ['create-partition-index', 'events_4'],
      ['set-lock-timeout', undefined],
      ['attach-partition-index', 'events_2'],
      ['attach-partition-index', 'events_3'],
      ['attach-partition-index', 'events_4'],
      ['reset-lock-timeout', undefined],
    ]);
    expect(plan.partitions.map((p) => p.action)).toEqual(['done', 'rebuild', 'attach', 'build']);
  });

  it("refuses an index under the build's name that it could not have made", () => {
    const other = (facts: Partial<PartitionIndexFacts>) =>
      snapshot([['events_1', [index('events_1_kind_idx', facts)]]], true);
    expect(() => planIndexBuild(spec, other({ valid: false, attachedElsewhere: true }))).toThrow(
      /belongs to another partitioned index/,
    );
    expect(() => planIndexBuild(spec, other({ valid: false, unique: true }))).toThrow(
      /\(INVALID\) but differs from the spec: unique is true/,
    );
    expect(() => planIndexBuild(spec, other({ indoption: [3] }))).toThrow(
      /differs from the spec: column order/,
    );
  });

  it('re-attaches one index when all are attached but the parent is still invalid', () => {
    const plan = planIndexBuild(
      spec,
      snapshot([['events_1', [index('events_1_kind_idx', { attached: true })]]], true),
    );
    expect(plan.statements.map((s) => s.kind)).toEqual([
      'set-lock-timeout',
      'revalidate-parent-index',
      'reset-lock-timeout',
    ]);
  });

  it('is empty when the index is complete', () => {
    const complete = snapshot([['events_1', [index('events_1_kind_idx', { attached: true })]]]);
    complete.parentIndex = { ...index('events_kind_idx'), relkind: 'I', onTable: true };
    const plan = planIndexBuild(spec, complete);
    expect(plan.statements).toEqual([]);
    expect(plan.complete).toBe(true);
  });

  it('refuses UNIQUE without the partition key, second-level partitions, a non-partitioned table', () => {
    const unique = { ...spec, unique: true };
    expect(() => planIndexBuild(unique, snapshot([]))).toThrow(/partition key column/);
    const twoLevels = snapshot([['events_1', []]]);
    (twoLevels.partitions[0] as { relkind: string }).relkind = 'p';
    expect(() => planIndexBuild(spec, twoLevels)).toThrow(/one level of partitioning/);
    expect(() =>
      planIndexBuild(spec, { table: { partitioned: false, partitionKey: [] }, partitions: [] }),
    ).toThrow(/not partitioned/);
    try {
      planIndexBuild(unique, snapshot([]));
    } catch (error) {
      expect(isPgpartsError(error, 'invalid-config')).toBe(true);
    }
  });

  it('refuses an existing parent index that differs from the spec', () => {
    const differs = snapshot([]);
    differs.parentIndex = {
      ...index('events_kind_idx', { indoption: [3] }),
      relkind: 'I',
      onTable: true,
    };
    expect(() => planIndexBuild(spec, differs)).toThrow(/column order or NULLS placement/);
  });
});

describe('onlineIndexSpecSchema', () => {
  it('takes a table and columns by name alone', () => {
    expect(
      onlineIndexSpecSchema.parse({
        table: 'app.orders',
        name: 'i',
        columns: ['a', { column: 'b' }],
      }),
    ).toEqual(
      onlineIndexSpecSchema.parse({
        table: { schema: 'app', name: 'orders' },
        name: 'i',
        columns: [{ column: 'a' }, { column: 'b' }],
      }),
    );
    expect(
      onlineIndexSpecSchema.parse({ table: 'orders', name: 'i', columns: ['a'] }).table,
    ).toEqual({
      schema: 'public',
      name: 'orders',
    });
    expect(
      onlineIndexSpecSchema.safeParse({ table: 'a.b.c', name: 'i', columns: ['a'] }).success,
    ).toBe(false);
  });

  it('refuses SQL that could end the statement, and UNIQUE with another method', () => {
    const base = { table: { name: 'events' }, name: 'i', columns: [{ column: 'kind' }] };
    expect(onlineIndexSpecSchema.safeParse({ ...base, where: 'true; DROP TABLE x' }).success).toBe(
      false,
    );
    expect(
      onlineIndexSpecSchema.safeParse({ ...base, columns: [{ expression: 'x -- y' }] }).success,
    ).toBe(false);
    expect(onlineIndexSpecSchema.safeParse({ ...base, unique: true, using: 'gin' }).success).toBe(
      false,
    );
    expect(onlineIndexSpecSchema.safeParse({ ...base, columns: [] }).success).toBe(false);
  });

  it('quotes a camelCase column', () => {
    const camel = { table: { name: 'events' }, name: 'i', columns: [{ column: 'occurredAt' }] };
    expect(identifierSchema.safeParse('occurredAt').success).toBe(true);
    const plan = planIndexBuild(onlineIndexSpecSchema.parse(camel), snapshot([]));
    expect(plan.statements[1]?.sql).toContain('("occurredAt")');
  });
});

describe('online index migration files', () => {
  const specs: OnlineIndexSpecInput[] = [
    { table: { name: 'events' }, name: 'events_kind_idx', columns: [{ column: 'kind' }] },
    {
      table: { schema: 'app', name: 'orders' },
      name: 'orders_key',
      columns: [{ column: 'region_id' }, { column: 'order_id', order: 'desc' }],
      unique: true,
      include: ['total'],
      where: "status <> 'void'",
    },
  ];

  it('render the marker, the guard and one directive per index; parse back to the same specs', () => {
    const body = renderOnlineIndexMigration(specs);
    const lines = body.trimEnd().split('\n');
    expect(lines[0]).toBe('-- pgparts:online');
    expect(lines[1]).toBe(
      "DO $$ BEGIN IF current_setting('pgparts.migrate', true) IS DISTINCT FROM 'on' THEN RAISE EXCEPTION 'this migration builds indexes online; run it with pgparts migrate'; END IF; END $$;",
    );
    expect(lines.slice(2).every((l) => l.startsWith('-- pgparts:create-index-online {'))).toBe(
      true,
    );
    expect(parseOnlineIndexMigration(body)).toEqual(
      specs.map((s) => onlineIndexSpecSchema.parse(s)),
    );
  });

  it('refuse other statements, bad JSON and a missing marker', () => {
    const body = renderOnlineIndexMigration(specs);
    expect(() => parseOnlineIndexMigration(`${body}CREATE TABLE x ();\n`, '0007_x.sql')).toThrow(
      /0007_x.sql line 5: an online migration holds only/,
    );
    expect(() => parseOnlineIndexMigration(`${body}-- pgparts:create-index-online {\n`)).toThrow(
      /not JSON/,
    );
    expect(() => parseOnlineIndexMigration(body.split('\n').slice(1).join('\n'))).toThrow(
      /does not start with -- pgparts:online/,
    );
  });
});
