import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { checkBlockingIndexes } from '../../src/migrations/blocking-indexes.js';
import type { GeneratorState } from '../../src/migrations/generator-state.js';
import { readMigrations } from '../../src/migrations/journal.js';
import {
  indexChanges,
  onlineSpecOf,
  type SnapshotIndex,
  withoutIndexStatements,
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
      index({ name: 'new_idx', columns: [column('at')] }),
    ]);
    const found = indexChanges(before, after, [{ schema: 'public', name: 'events' }]);
    expect(found.built.map((c) => [c.index.name, c.replaces])).toEqual([
      ['changed_idx', true],
      ['new_idx', false],
    ]);
    expect(found).toMatchObject({ renamed: [], dropped: [] });
    expect(indexChanges(before, after, [{ schema: 'public', name: 'other' }])).toEqual({
      built: [],
      renamed: [],
      dropped: [],
    });
  });

  it('tells a renamed index (the same definition) from a removed one, dropped after a build on its table only', () => {
    const kind = index({ name: 'kind_idx' });
    const at = index({ name: 'at_idx', columns: [column('at')] });
    const before = snapshot([kind, at]);
    // kind_idx renamed; at_idx removed while a new index is built on the table.
    const withBuild = snapshot([
      index({ name: 'events_kind_idx' }),
      index({ name: 'at_id_idx', columns: [column('at'), column('id')] }),
    ]);
    expect(indexChanges(before, withBuild, [{ schema: 'public', name: 'events' }])).toEqual({
      built: [
        {
          schema: 'public',
          table: 'events',
          index: withBuild.tables['public.events'].indexes.at_id_idx,
          replaces: false,
        },
      ],
      renamed: [{ schema: 'public', table: 'events', from: 'kind_idx', to: 'events_kind_idx' }],
      dropped: [{ schema: 'public', table: 'events', name: 'at_idx' }],
    });
    // No build on the table: drizzle-kit's DROP INDEX stays where it is.
    const renameOnly = snapshot([index({ name: 'events_kind_idx' })]);
    expect(indexChanges(before, renameOnly, [{ schema: 'public', name: 'events' }])).toMatchObject({
      built: [],
      renamed: [{ from: 'kind_idx', to: 'events_kind_idx' }],
      dropped: [],
    });
  });

  it("takes the CREATE INDEX statements out of drizzle-kit's file, and refuses a missing one", () => {
    const file =
      'DROP INDEX "a_idx";--> statement-breakpoint\nCREATE INDEX "a_idx" ON "events" USING btree ("kind");--> statement-breakpoint\nCREATE UNIQUE INDEX "b_idx" ON "events" USING btree ("id");';
    expect(withoutIndexStatements(file, { created: ['a_idx'] })).toBe(
      'DROP INDEX "a_idx";--> statement-breakpoint\nCREATE UNIQUE INDEX "b_idx" ON "events" USING btree ("id");\n',
    );
    expect(withoutIndexStatements(file, { created: ['a_idx', 'b_idx'] })).toBe(
      'DROP INDEX "a_idx";\n',
    );
    expectPgpartsError(
      thrown(() => withoutIndexStatements(file, { created: ['c_idx'] })),
      'migration',
      { message: /no CREATE INDEX "c_idx"/ },
    );
  });

  it("takes a changed index's DROP INDEX out too (it is replaced online), schema-qualified or not; refuses a missing one", () => {
    const file =
      'DROP INDEX "a_idx";--> statement-breakpoint\nDROP INDEX "app"."b_idx";--> statement-breakpoint\nDROP INDEX "gone_idx";--> statement-breakpoint\nALTER TABLE "events" ADD COLUMN "x" text;--> statement-breakpoint\nCREATE INDEX "a_idx" ON "events" USING btree ("kind","x");--> statement-breakpoint\nCREATE INDEX "b_idx" ON "app"."events" USING btree ("x");';
    // An index dropped for good (gone_idx) stays in drizzle-kit's file.
    expect(
      withoutIndexStatements(file, { created: ['a_idx', 'b_idx'], dropped: ['a_idx', 'b_idx'] }),
    ).toBe(
      'DROP INDEX "gone_idx";--> statement-breakpoint\nALTER TABLE "events" ADD COLUMN "x" text;\n',
    );
    expectPgpartsError(
      thrown(() => withoutIndexStatements(file, { created: ['a_idx'], dropped: ['x_idx'] })),
      'migration',
      { message: /no DROP INDEX "x_idx" for the online migration to take over/ },
    );
  });

  it('takes them out of a breakpoints: false file (statements ended by ;), keeping every other one', () => {
    // drizzle-kit's shape without breakpoints: statements joined by a newline, no markers.
    const statements = [
      'CREATE INDEX "a_idx" ON "events" USING btree ("kind","at");',
      'CREATE INDEX "plain_idx" ON "accounts" USING btree ("name");',
      'ALTER TABLE "accounts" DROP COLUMN "legacy";',
      `ALTER TABLE "accounts" ADD CONSTRAINT "name_check" CHECK ("accounts"."name" <> ';' AND "accounts"."name" <> E'\\';');`,
      'ALTER TABLE "a;b" ADD COLUMN "x" text;',
      `DO $body$ BEGIN PERFORM 1; /* ; */ END $body$;`,
      'CREATE TABLE "t" (\n\t"id" bigint -- a comment; still one statement\n);\n',
    ];
    const first = statements.join('\n');
    expect(withoutIndexStatements(first, { created: ['a_idx'] }, false)).toBe(
      `${statements
        .slice(1)
        .map((s) => s.trim())
        .join('\n')}\n`,
    );
    // Not first: it used to be refused as absent.
    const notFirst = [statements[2], statements[0], statements[1]].join('\n');
    expect(withoutIndexStatements(notFirst, { created: ['a_idx'] }, false)).toBe(
      `${statements[2]}\n${statements[1]}\n`,
    );
    expect(withoutIndexStatements(statements[0] ?? '', { created: ['a_idx'] }, false)).toBe('');
    expectPgpartsError(
      thrown(() => withoutIndexStatements(first, { created: ['c_idx'] }, false)),
      'migration',
      { message: /no CREATE INDEX "c_idx"/ },
    );
  });

  it('refuses a plain CREATE INDEX on a partitioned table anywhere in a breakpoints: false file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgparts-nobreak-'));
    try {
      mkdirSync(join(dir, 'meta'));
      const entry = { idx: 0, version: '7', when: 1, tag: '0000_kit', breakpoints: false };
      writeFileSync(join(dir, 'meta', '_journal.json'), JSON.stringify({ entries: [entry] }));
      writeFileSync(
        join(dir, '0000_kit.sql'),
        'ALTER TABLE "events" ADD COLUMN "host" text;\nCREATE INDEX "events_host_idx" ON "events" USING btree ("host");',
      );
      const state: GeneratorState = {
        version: 1,
        migrations: {},
        families: { events: { tables: ['events'], strategy: 'range', column: 'at' } },
        extensions: [],
        objects: {},
      };
      const family = parseFamily({
        name: 'events',
        tables: ['events'],
        partitionBy: { strategy: 'range', column: 'at', interval: 'month' },
      });
      expectPgpartsError(
        thrown(() => checkBlockingIndexes(readMigrations(dir), state, [family])),
        'migration',
        { message: /0000_kit\.sql, [\s\S]*\n {2}CREATE INDEX "events_host_idx" ON "events"/ },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
