import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/migrations/generate.js';
import { readJournal } from '../../src/migrations/journal.js';
import { migrate } from '../../src/migrations/migrate.js';
import { parseOnlineIndexMigration } from '../../src/ops/online-index-migration.js';
import { fixtureApp } from '../support/fixture-app.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * examples/app with drizzle.config `breakpoints: false`: drizzle-kit ends each statement with `;`
 * and writes no `--> statement-breakpoint` markers. A new index on a partitioned table is taken
 * out of drizzle-kit's file, and every other statement of that file stays.
 */
const app = fixtureApp();
afterAll(() => app.remove());
const db = useTestDatabase({ migrated: false });
const out = join(app.dir, 'drizzle');
const schemaFile = join(app.dir, 'src', 'schema.ts');
const configFile = join(app.dir, 'drizzle.config.ts');
const run = () => generate({ cwd: app.dir, config: 'pgparts.config.ts' });

describe('generate with breakpoints: false', { timeout: 300_000 }, () => {
  it('takes only the partitioned index out of a change that also drops, checks and indexes a plain table', async () => {
    writeFileSync(
      configFile,
      readFileSync(configFile, 'utf8').replace(
        "out: './drizzle',",
        "out: './drizzle',\n  breakpoints: false,",
      ),
    );
    expect(await run()).toMatchObject({ written: [expect.any(String), expect.any(String)] });
    expect((await migrate(db.db, { appFolder: out })).applied).toHaveLength(2);

    // One change: an index on the partitioned app_events, and on the plain accounts an index,
    // a CHECK and a dropped column.
    writeFileSync(
      schemaFile,
      readFileSync(schemaFile, 'utf8')
        .replace(
          "    index('app_events_account_idx').on(t.accountId, t.occurredAt),",
          "    index('app_events_account_idx').on(t.accountId, t.occurredAt),\n    index('app_events_kind_idx').on(t.kind, t.occurredAt),",
        )
        .replace(
          "  createdAt: timestamp('createdAt', { withTimezone: true }).defaultNow().notNull(),\n});",
          "}, (t) => [index('accounts_name_idx').on(t.displayName), check('accounts_name_set', sql.raw(`\"displayName\" <> ''`))]);",
        )
        .replace(
          'import {\n  bigint,',
          "import { sql } from 'drizzle-orm';\nimport {\n  bigint,\n  check,",
        ),
    );
    const result = await run();
    expect(result.written).toHaveLength(2);
    const [kitTag, onlineTag] = result.written;
    const kitSql = readFileSync(join(out, `${kitTag}.sql`), 'utf8');
    // Every other statement kept, in the folder's shape (no markers).
    expect(kitSql).toContain('CREATE INDEX "accounts_name_idx" ON "accounts"');
    expect(kitSql).toContain('ALTER TABLE "accounts" DROP COLUMN "createdAt";');
    expect(kitSql).toContain(`ADD CONSTRAINT "accounts_name_set" CHECK ("displayName" <> '');`);
    expect(kitSql).not.toContain('app_events_kind_idx');
    expect(kitSql).not.toContain('statement-breakpoint');
    expect(readJournal(out).find((e) => e.tag === kitTag)?.breakpoints).toBe(false);
    const online = readFileSync(join(out, `${onlineTag}.sql`), 'utf8');
    expect(parseOnlineIndexMigration(online).map((s) => s.name)).toEqual(['app_events_kind_idx']);

    // The database gets all of it.
    expect((await migrate(db.db, { appFolder: out })).applied).toHaveLength(2);
    const [accounts] = await db.sql<
      { column: string | null; check: string | null; index: string | null }[]
    >`
      SELECT (SELECT attname FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attname = 'createdAt' AND NOT attisdropped) AS column,
             (SELECT conname FROM pg_constraint WHERE conrelid = 'accounts'::regclass AND contype = 'c') AS check,
             to_regclass('accounts_name_idx')::text AS index`;
    expect(accounts).toEqual({
      column: null,
      check: 'accounts_name_set',
      index: 'accounts_name_idx',
    });
    const [built] = await db.sql`
      SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'app_events_kind_idx'::regclass`;
    expect(built?.valid).toBe(true);
  });
});
