import { describe, expect, it } from 'vitest';
import {
  changedIndexes,
  onlineSpecOf,
  type SnapshotIndex,
  withoutCreateIndexes,
} from '../../src/migrations/online-indexes.js';
import { parseOnlineIndexSpec } from '../../src/ops/online-index-spec.js';
import { createPartitionIndexSql } from '../../src/ops/online-index-sql.js';
import { expectPgpartsError, thrown } from '../support/pgparts-error.js';

/** From drizzle-kit's snapshot to an online build's spec, and out of drizzle-kit's file. */
const column = (expression: string, extra: Partial<SnapshotIndex['columns'][number]> = {}) => ({
  expression,
  isExpression: false,
  asc: true,
  nulls: 'last',
  ...extra,
});
const index = (extra: Partial<SnapshotIndex>): SnapshotIndex => ({
  name: 'events_idx',
  columns: [column('kind')],
  isUnique: false,
  method: 'btree',
  with: {},
  ...extra,
});
const snapshot = (indexes: SnapshotIndex[]) => ({
  tables: {
    'public.events': {
      name: 'events',
      schema: 'public',
      indexes: Object.fromEntries(indexes.map((i) => [i.name, i])),
    },
  },
});

describe('online indexes from drizzle-kit snapshots', () => {
  it('maps expressions, DESC/NULLS, UNIQUE and WHERE; writes only non-default NULLS', () => {
    const spec = onlineSpecOf({
      schema: 'public',
      table: 'events',
      index: index({
        isUnique: true,
        where: `"events"."kind" <> 'debug' AND "public"."events"."at" IS NOT NULL`,
        columns: [
          column('lower("kind")', { isExpression: true }),
          column('at', { asc: false, nulls: 'first' }),
          column('id', { nulls: 'first' }),
        ],
      }),
    });
    expect(spec).toEqual({
      table: { schema: 'public', name: 'events' },
      name: 'events_idx',
      columns: [
        { expression: 'lower("kind")' },
        { column: 'at', order: 'desc' },
        { column: 'id', nulls: 'first' },
      ],
      unique: true,
      // drizzle-kit qualifies a WHERE's columns by the parent's name; a partition's index cannot.
      where: `"kind" <> 'debug' AND "at" IS NOT NULL`,
    });
    expect(
      createPartitionIndexSql(parseOnlineIndexSpec(spec), { schema: 'public', name: 'events_1' }),
    ).toBe(
      `CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "events_1_idx" ON "public"."events_1" ((lower("kind")), "at" DESC, "id" NULLS FIRST) WHERE ("kind" <> 'debug' AND "at" IS NOT NULL)`,
    );
  });

  it('gives a non-btree method its opclass and no order', () => {
    const spec = parseOnlineIndexSpec(
      onlineSpecOf({
        schema: 'public',
        table: 'events',
        index: index({
          method: 'gin',
          columns: [column('payload', { opclass: 'jsonb_path_ops' })],
        }),
      }),
    );
    expect(createPartitionIndexSql(spec, { schema: 'public', name: 'events_1' })).toBe(
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_1_idx" ON "public"."events_1" USING "gin" ("payload" "jsonb_path_ops")',
    );
  });

  it('refuses storage parameters', () => {
    expectPgpartsError(
      thrown(() =>
        onlineSpecOf({
          schema: 'public',
          table: 'events',
          index: index({ with: { fillfactor: 70 } }),
        }),
      ),
      'migration',
      { message: /storage parameters/ },
    );
  });

  it('finds new and changed indexes whatever the order of their keys, not unchanged ones', () => {
    const same = index({ name: 'same_idx' });
    const reordered = Object.fromEntries(Object.entries(same).reverse()) as SnapshotIndex;
    const before = snapshot([same, index({ name: 'changed_idx' })]);
    const after = snapshot([
      reordered,
      index({ name: 'changed_idx', columns: [column('kind', { asc: false })] }),
      index({ name: 'new_idx' }),
    ]);
    const found = changedIndexes(before, after, [{ schema: 'public', name: 'events' }]);
    expect(found.map((c) => c.index.name)).toEqual(['changed_idx', 'new_idx']);
    expect(changedIndexes(before, after, [{ schema: 'public', name: 'other' }])).toEqual([]);
  });

  it("takes the CREATE INDEX statements out of drizzle-kit's file, and refuses a missing one", () => {
    const file =
      'DROP INDEX "a_idx";--> statement-breakpoint\nCREATE INDEX "a_idx" ON "events" USING btree ("kind");--> statement-breakpoint\nCREATE UNIQUE INDEX "b_idx" ON "events" USING btree ("id");';
    expect(withoutCreateIndexes(file, ['a_idx'])).toBe(
      'DROP INDEX "a_idx";--> statement-breakpoint\nCREATE UNIQUE INDEX "b_idx" ON "events" USING btree ("id");\n',
    );
    expect(withoutCreateIndexes(file, ['a_idx', 'b_idx'])).toBe('DROP INDEX "a_idx";\n');
    expectPgpartsError(
      thrown(() => withoutCreateIndexes(file, ['c_idx'])),
      'migration',
      { message: /no CREATE INDEX "c_idx"/ },
    );
  });
});
