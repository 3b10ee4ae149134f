import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bigint, bigserial, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionFamily } from '../../src/define/spec.js';
import { generate } from '../../src/migrations/generate.js';
import { migrate } from '../../src/migrations/migrate.js';
import { checkPartitionColumns } from '../../src/migrations/partition-columns.js';
import { fixtureApp } from '../support/fixture-app.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * Drizzle's `casing`: a column declared without a name is named in the database by the casing
 * (`viewedAt: timestamp()` is "viewed_at" under snake_case). A family's partitionBy.column is
 * that database name; generate checks it against drizzle-kit's snapshot.
 */
const app = fixtureApp();
afterAll(() => app.remove());
const db = useTestDatabase({ migrated: false });
const out = join(app.dir, 'drizzle');
const configFile = join(app.dir, 'drizzle.config.ts');
const run = () => generate({ cwd: app.dir, config: 'pgparts.config.ts' });

const schema = `import { bigint, bigserial, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

export const pageViews = pgTable(
  'page_views',
  {
    id: bigserial({ mode: 'number' }).notNull(),
    accountId: bigint({ mode: 'number' }).notNull(),
    viewedAt: timestamp({ withTimezone: true }).notNull(),
    path: text().notNull(),
  },
  (t) => [primaryKey({ columns: [t.id, t.viewedAt] })],
);
`;
const pgpartsConfig = (column: string) => `import { partitionFamily } from 'pgparts';
import { pageViews } from './src/schema';

export const families = [
  partitionFamily({
    name: 'page_views',
    tables: [pageViews],
    partitionBy: { strategy: 'range', column: '${column}', interval: 'day', premake: 2, past: 1 },
  }),
];
`;

describe("drizzle's casing", { timeout: 300_000 }, () => {
  it('partitionFamily takes the name the casing gives a column declared without one', () => {
    const views = pgTable('views', {
      viewedAt: timestamp({ withTimezone: true }).notNull(),
      named: timestamp('namedAt').notNull(),
      id: bigserial({ mode: 'number' }),
    });
    const family = (column: string) =>
      partitionFamily({
        name: 'views',
        tables: [views],
        partitionBy: { strategy: 'range', column, interval: 'day' },
      });
    expect(family('viewed_at').partitionBy.column).toBe('viewed_at');
    expect(family('viewedAt').partitionBy.column).toBe('viewedAt');
    expect(family('namedAt').partitionBy.column).toBe('namedAt');
    // An explicit name is the name, whatever the casing; refused with every spelling listed.
    expectPgpartsError(
      thrown(() => family('named_at')),
      'invalid-config',
      {
        message:
          /no column "named_at" to partition by; [\s\S]*Its columns: viewedAt \(viewed_at under casing: 'snake_case'\), namedAt, id$/,
      },
    );
    const other = pgTable('other', { at: bigint({ mode: 'number' }), kind: text() });
    expect(() =>
      partitionFamily({
        name: 'o',
        tables: [other],
        partitionBy: { strategy: 'list', column: 'kind' },
      }),
    ).not.toThrow();
  });

  it('generate refuses the spelling drizzle.config does not give, and writes the real name', async () => {
    writeFileSync(join(app.dir, 'src', 'schema.ts'), schema);
    writeFileSync(
      configFile,
      readFileSync(configFile, 'utf8').replace(
        "out: './drizzle',",
        "out: './drizzle',\n  casing: 'snake_case',",
      ),
    );
    // The key: under snake_case the table has no such column (PARTITION BY ("viewedAt") failed
    // at migrate, on every database).
    writeFileSync(join(app.dir, 'pgparts.config.ts'), pgpartsConfig('viewedAt'));
    expectPgpartsError(await rejection(run()), 'invalid-config', {
      message:
        /family page_views: partitionBy\.column is "viewedAt", which public\.page_views does not have in the database; drizzle\.config's casing: 'snake_case' names that column "viewed_at": write partitionBy\.column: 'viewed_at'\. Nothing was written\./,
      table: 'public.page_views',
    });
    expect(existsSync(out)).toBe(false);

    writeFileSync(join(app.dir, 'pgparts.config.ts'), pgpartsConfig('viewed_at'));
    const result = await run();
    expect(result.written).toHaveLength(2);
    const created = readFileSync(join(out, `${result.written[0]}.sql`), 'utf8');
    expect(created).toContain(
      'CONSTRAINT "page_views_id_viewed_at_pk" PRIMARY KEY("id","viewed_at")',
    );
    expect(created).toContain(') PARTITION BY RANGE ("viewed_at");');
    expect((await migrate(db.db, { appFolder: out })).applied).toHaveLength(2);
    const [parent] = await db.sql`
      SELECT pg_get_partkeydef('page_views'::regclass) AS key,
             (SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'page_views'::regclass) AS parts`;
    expect(parent).toEqual({ key: 'RANGE (viewed_at)', parts: 4 });
  });

  it('refuses the cased name when drizzle.config has no casing', () => {
    const snapshot = {
      tables: {
        'public.page_views': { columns: { viewedAt: { name: 'viewedAt' }, id: { name: 'id' } } },
      },
    };
    const family = partitionFamily({
      name: 'page_views',
      tables: [
        pgTable('page_views', {
          id: bigserial({ mode: 'number' }),
          viewedAt: timestamp({ withTimezone: true }).notNull(),
        }),
      ],
      partitionBy: { strategy: 'range', column: 'viewed_at', interval: 'day' },
    });
    expectPgpartsError(
      thrown(() => checkPartitionColumns(snapshot, [family], undefined)),
      'invalid-config',
      {
        message:
          /under drizzle\.config \(no casing\) the column is "viewedAt": write partitionBy\.column: 'viewedAt', or set the casing that names it "viewed_at" in drizzle\.config \(and in drizzle\(\) at run time\)\./,
      },
    );
    const without = { tables: { 'public.page_views': { columns: { id: { name: 'id' } } } } };
    expect(() => checkPartitionColumns(without, [family], 'snake_case')).toThrow(
      /its columns there are id; fix partitionBy\.column\./,
    );
  });
});
