import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAppConfig } from '../../src/migrations/app-config.js';
import { runDrizzleKitGenerate } from '../../src/migrations/drizzle-kit.js';
import { generate } from '../../src/migrations/generate.js';
import { readJournal } from '../../src/migrations/journal.js';
import { migrate } from '../../src/migrations/migrate.js';
import type { OnlineIndexProgress } from '../../src/migrations/online-directives.js';
import {
  onlineIndexDirectives,
  parseOnlineIndexMigration,
} from '../../src/ops/online-index-migration.js';
import { apply } from '../../src/run/apply.js';
import { pgparts } from '../cli/run-cli.js';
import { catalogShape } from '../support/catalog-shape.js';
import { fixtureApp } from '../support/fixture-app.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';
import type { TableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * examples/app end to end, as its developer would run it: generate -> migrate -> insert -> apply,
 * then the schema evolves (a new index, a new column, a new LIST family) and generate only adds
 * files, the index on the partitioned table as an online build; an
 * already-migrated database and a fresh one end with the same catalog.
 */
const app = fixtureApp();
afterAll(() => app.remove());
const first = useTestDatabase({ migrated: false });
const fresh = useTestDatabase({ migrated: false });
/** Migrated before the schema evolves, its yesterday archived, reattached after. */
const archive = useTestDatabase({ migrated: false });
const out = join(app.dir, 'drizzle');

function folderText(): Map<string, string> {
  const files = new Map<string, string>();
  for (const dir of ['', 'meta']) {
    for (const name of readdirSync(join(out, dir))) {
      if (name === 'meta') continue;
      files.set(join(dir, name), readFileSync(join(out, dir, name), 'utf8'));
    }
  }
  return files;
}

const appOptions = () => ({ appFolder: out });
const configPath = () => join(app.dir, 'pgparts.config.ts');
// Yesterday (UTC): a day with rows, neither current nor future, so retire takes it.
const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
let archived: TableDigest;
let archivedTable = '';

/** Count and checksum of yesterday's rows over the columns they had before `source` was added. */
async function yesterdayDigest(table: string): Promise<TableDigest> {
  const [row] = await archive.sql<{ rows: number; checksum: string }[]>`
    SELECT count(*)::int AS rows,
           md5(coalesce(string_agg(concat_ws('|', id, "occurredAt", "accountId", kind, payload),
                                   E'\n' ORDER BY id, "occurredAt"), '')) AS checksum
    FROM ${archive.sql.unsafe(table)}
    WHERE "occurredAt" >= ${`${yesterday}T00:00:00Z`}::timestamptz
      AND "occurredAt" < ${`${yesterday}T00:00:00Z`}::timestamptz + interval '1 day'`;
  return { rows: row?.rows ?? 0, checksum: row?.checksum ?? '' };
}

describe('the example app', { timeout: 300_000 }, () => {
  let before: Map<string, string>;

  it('a refused first generate leaves no folder behind, and a broken one is told as drizzle-kit printed it', async () => {
    const schemaFile = join(app.dir, 'src', 'schema.ts');
    const schema = readFileSync(schemaFile, 'utf8');
    const withoutKey = schema.replace(
      'primaryKey({ columns: [t.id, t.occurredAt] })',
      'primaryKey({ columns: [t.id] })',
    );
    expect(withoutKey).not.toBe(schema);
    writeFileSync(schemaFile, withoutKey);
    try {
      expectPgpartsError(
        await rejection(generate({ cwd: app.dir, config: 'pgparts.config.ts' })),
        'migration',
        { message: /primary key "app_events_id_pk" on partitioned public\.app_events/ },
      );
    } finally {
      writeFileSync(schemaFile, schema);
    }
    // drizzle-kit created drizzle/meta/ in that run; an empty meta/ left behind broke every
    // later generate (drizzle-kit takes it for a folder that lost its journal).
    expect(existsSync(out)).toBe(false);

    // Such a folder, made by hand: drizzle-kit prints the error and exits 0, which pgparts
    // reported as "failed (exit 0)".
    mkdirSync(join(out, 'meta'), { recursive: true });
    try {
      const error = expectPgpartsError(
        thrown(() => runDrizzleKitGenerate(app.dir, join(app.dir, 'drizzle.config.ts'))),
        'migration',
        {
          message:
            /^pgparts: drizzle-kit generate wrote no migration; it printed:\n[\s\S]*_journal\.json/,
        },
      );
      expect(error.message).not.toMatch(/exit 0/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('generate writes the schema migration with PARTITION BY and a partitions migration', async () => {
    const result = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
    expect(result.written).toHaveLength(2);
    const [schemaTag, partitionsTag] = result.written;
    const schemaSql = readFileSync(join(out, `${schemaTag}.sql`), 'utf8');
    expect(schemaSql).toContain(') PARTITION BY RANGE ("occurredAt");');
    expect(schemaSql).toContain(') PARTITION BY LIST ("region");');
    expect(schemaSql).toMatch(/CREATE TABLE "accounts" \([^;]*\n\);/);
    const partitionsSql = readFileSync(join(out, `${partitionsTag}.sql`), 'utf8');
    expect(partitionsSql).toContain(
      `CREATE TABLE "public"."region_orders_eu_west" PARTITION OF "public"."region_orders" FOR VALUES IN ('eu-west')`,
    );
    // The LIST family's DEFAULT comes after its CREATE TABLE: in a later migration.
    expect(partitionsSql).toContain('"region_orders_default" PARTITION OF');
    // The config's object, after the first partitions (SET STATISTICS reaches those that exist).
    const statistics = partitionsSql.indexOf(
      'ALTER TABLE "app_events" ALTER COLUMN "payload" SET STATISTICS 1000;',
    );
    expect(statistics).toBeGreaterThan(
      partitionsSql.indexOf('"region_orders_default" PARTITION OF'),
    );
    before = folderText();
  });

  it('a second generate writes nothing, and --check passes', async () => {
    expect((await generate({ cwd: app.dir, config: 'pgparts.config.ts' })).written).toEqual([]);
    expect(folderText()).toEqual(before);
    const check = await generate({ cwd: app.dir, config: 'pgparts.config.ts', check: true });
    expect(check.stale).toEqual([]);
  });

  it('migrate applies both, reports them, then nothing is pending', async () => {
    const result = await migrate(first.db, appOptions());
    expect(result.applied.map((a) => a.name)).toEqual(readJournal(out).map((e) => e.tag));
    expect(result.applied.every((a) => a.source === 'app' && a.ms >= 0)).toBe(true);
    expect((await migrate(first.db, appOptions())).applied).toEqual([]);
    // Recorded where drizzle-kit records it; pgparts's own folder was not applied.
    const [row] = await first.sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`;
    expect(row?.n).toBe(2);
    const [own] = await first.sql`SELECT to_regclass('public.leaderboard_run') AS t`;
    expect(own?.t).toBeNull();
  });

  it('takes rows, and apply keeps the families (past, premake, text LIST, DEFAULT)', async () => {
    await first.sql`INSERT INTO accounts ("displayName") VALUES ('Ada')`;
    await first.sql`
      INSERT INTO app_events ("occurredAt", "accountId", kind)
      SELECT now() - (i || ' hours')::interval, 1, 'login' FROM generate_series(0, 47) i`;
    await first.sql`
      INSERT INTO region_orders (region, "totalCents")
      VALUES ('eu-west', 100), ('us-east', 200), ('mars', 300)`;
    const { families } = await loadAppConfig(join(app.dir, 'pgparts.config.ts'));
    const result = await apply(first.db, { families });
    expect(result.ok).toBe(true);
    const parts = await first.sql<{ parent: string; n: number }[]>`
      SELECT parent.relname AS parent, count(*)::int AS n FROM pg_inherits i
      JOIN pg_class parent ON parent.oid = i.inhparent
      WHERE parent.relkind = 'p' GROUP BY 1 ORDER BY 1`;
    // 3 days back, today, 7 ahead; three regions and DEFAULT.
    expect(parts).toEqual([
      { parent: 'app_events', n: 11 },
      { parent: 'region_orders', n: 4 },
    ]);
    const [mars] = await first.sql`SELECT count(*)::int AS n FROM region_orders_default`;
    expect(mars?.n).toBe(1);
    // Every day's partition samples payload as the parent says, whoever made it.
    const targets = await first.sql<{ target: number | null; n: number }[]>`
      SELECT a.attstattarget::int AS target, count(*)::int AS n FROM pg_inherits i
      JOIN pg_attribute a ON a.attrelid = i.inhrelid AND a.attname = 'payload'
      WHERE i.inhparent = 'app_events'::regclass GROUP BY 1`;
    expect(targets).toEqual([{ target: 1000, n: 11 }]);
  });

  it("archives yesterday's partition (retire --archive)", async () => {
    expect((await migrate(archive.db, appOptions())).applied).toHaveLength(2);
    await archive.sql`
      INSERT INTO app_events ("occurredAt", "accountId", kind)
      SELECT ${`${yesterday}T00:00:00Z`}::timestamptz + (i || ' minutes')::interval, i, 'login'
      FROM generate_series(0, 1439, 7) i`;
    const { families } = await loadAppConfig(configPath());
    expect((await apply(archive.db, { families })).ok).toBe(true);
    archived = await yesterdayDigest('app_events');
    expect(archived.rows).toBeGreaterThan(0);
    const retired = await pgparts(
      archive.url,
      '--config',
      configPath(),
      'retire',
      'app_events',
      yesterday,
      '--archive',
      '--yes',
    );
    expect(retired, retired.stderr).toMatchObject({ code: 0 });
    const moved = await archive.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'pgparts_archive' AND c.relkind = 'r' AND c.relname LIKE 'app_events%'`;
    expect(moved).toHaveLength(1);
    archivedTable = `pgparts_archive.${moved[0]?.name}`;
    expect(await yesterdayDigest(archivedTable)).toEqual(archived);
    expect((await yesterdayDigest('app_events')).rows).toBe(0);
  });

  it('evolves: a new index, a new column and a new LIST family give new migrations, earlier files untouched', async () => {
    const schemaFile = join(app.dir, 'src', 'schema.ts');
    writeFileSync(
      schemaFile,
      readFileSync(schemaFile, 'utf8')
        .replace(
          "    kind: text('kind').notNull(),",
          "    kind: text('kind').notNull(),\n    source: text('source'),",
        )
        .replace(
          "    index('app_events_account_idx').on(t.accountId, t.occurredAt),",
          "    index('app_events_account_idx').on(t.accountId, t.occurredAt),\n    index('app_events_source_idx').on(t.source, t.occurredAt.desc()),",
        )
        .concat(`
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).notNull(),
    tenant: text('tenant').notNull(),
    loggedAt: timestamp('loggedAt', { withTimezone: true }).defaultNow().notNull(),
    entry: jsonb('entry').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenant, t.id] })],
);
`),
    );
    const configFile = join(app.dir, 'pgparts.config.ts');
    writeFileSync(
      configFile,
      readFileSync(configFile, 'utf8')
        .replace(
          "import { appEvents, regionOrders } from './src/schema';",
          "import { appEvents, auditLog, regionOrders } from './src/schema';",
        )
        // The end of the families array (the objects array follows it).
        .replace(
          /\n\];\n/,
          `\n  partitionFamily({
    name: 'audit_log',
    tables: [auditLog],
    partitionBy: { strategy: 'list', column: 'tenant', values: ['Acme Corp'], naming: '{table}_{value}' },
    defaultPartition: true,
  }),
];
`,
        ),
    );
    const check = await generate({ cwd: app.dir, config: 'pgparts.config.ts', check: true });
    expect(check.stale.length).toBeGreaterThan(0);
    expect(folderText()).toEqual(before);

    const result = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
    // drizzle-kit's (column, new family), the new family's partitions, the online index build.
    expect(result.written).toHaveLength(3);
    const after = folderText();
    for (const [file, text] of before) {
      if (file !== 'pgparts.json' && file !== join('meta', '_journal.json')) {
        expect(after.get(file), file).toBe(text);
      }
    }
    const schemaSql = after.get(`${result.written[0]}.sql`) ?? '';
    expect(schemaSql).toContain('ALTER TABLE "app_events" ADD COLUMN "source" text;');
    expect(schemaSql).toContain(') PARTITION BY LIST ("tenant");');
    // The plain CREATE INDEX on the partitioned parent would block writers for the whole build.
    expect(schemaSql).not.toContain('app_events_source_idx');
    const partitionsSql = after.get(`${result.written[1]}.sql`) ?? '';
    expect(partitionsSql).toContain(
      `"audit_log_acme_corp" PARTITION OF "public"."audit_log" FOR VALUES IN ('Acme Corp')`,
    );
    expect(partitionsSql).not.toContain('region_orders');
    const onlineSql = after.get(`${result.written[2]}.sql`) ?? '';
    expect(parseOnlineIndexMigration(onlineSql)).toEqual([
      {
        table: { schema: 'public', name: 'app_events' },
        name: 'app_events_source_idx',
        columns: [{ column: 'source' }, { column: 'occurredAt', order: 'desc', nulls: 'last' }],
        unique: false,
        include: [],
      },
    ]);
    expect((await generate({ cwd: app.dir, config: 'pgparts.config.ts' })).written).toEqual([]);
  });

  it('migrate builds the new index online, on every partition', async () => {
    const partitionsBefore = await first.sql<{ name: string }[]>`
      SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'app_events'::regclass ORDER BY 1`;
    expect((await migrate(first.db, appOptions())).applied).toHaveLength(3);
    // Built online: every partition's index under the build's name (PostgreSQL's own CREATE
    // INDEX on the parent would have named them app_events_..._source_occurredAt_idx),
    // attached, valid, with Drizzle's .desc() on "occurredAt" (indoption 1: DESC NULLS LAST).
    const built = await first.sql<
      { partition: string; index: string; valid: boolean; indoption: string }[]
    >`
      SELECT c.relname AS partition, ic.relname AS index, x.indisvalid AS valid,
             x.indoption::text AS indoption
      FROM pg_inherits pi JOIN pg_class ic ON ic.oid = pi.inhrelid
      JOIN pg_index x ON x.indexrelid = ic.oid JOIN pg_class c ON c.oid = x.indrelid
      WHERE pi.inhparent = 'app_events_source_idx'::regclass ORDER BY 1`;
    expect(built).toEqual(
      partitionsBefore.map((p) => ({
        partition: p.name,
        index:
          p.name === 'app_events_default'
            ? 'app_events_default_source_idx'
            : `${p.name}_source_idx`,
        valid: true,
        indoption: '0 1',
      })),
    );
    const [parent] = await first.sql`
      SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'app_events_source_idx'::regclass`;
    expect(parent?.valid).toBe(true);
  });

  it('reattaching the day archived before the new column gives it the column, nothing lost', async () => {
    expect((await migrate(archive.db, appOptions())).applied).toHaveLength(3);
    // ATTACH PARTITION requires every column of the parent: reattach adds the parent's new
    // column (nullable, no default) to the archived table in the same transaction.
    const result = await pgparts(
      archive.url,
      '--config',
      configPath(),
      'reattach',
      'app_events',
      yesterday,
    );
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(await yesterdayDigest('app_events')).toEqual(archived);
    const [given] = await archive.sql.unsafe<{ n: number }[]>(
      `SELECT count(source)::int AS n FROM ${archivedTable.replace('pgparts_archive.', 'public.')}`,
    );
    expect(given?.n).toBe(0);
    // The reattached partition has the online-built index too (PostgreSQL builds it on ATTACH).
    const [attached] = await archive.sql`
      SELECT count(*)::int AS n FROM pg_inherits pi JOIN pg_index x ON x.indexrelid = pi.inhrelid
      WHERE pi.inhparent = 'app_events_source_idx'::regclass AND x.indrelid = ${archivedTable.replace('pgparts_archive.', 'public.')}::regclass`;
    expect(attached?.n).toBe(1);
  });

  it("a changed index is replaced online: drizzle-kit's DROP INDEX is taken out too, the new index swapped in once built", async () => {
    const schemaFile = join(app.dir, 'src', 'schema.ts');
    const declared = "    index('app_events_account_idx').on(t.accountId, t.occurredAt),";
    const text = readFileSync(schemaFile, 'utf8');
    expect(text).toContain(declared);
    writeFileSync(
      schemaFile,
      text.replace(
        declared,
        "    index('app_events_account_idx').on(t.accountId, t.occurredAt.desc(), t.kind),",
      ),
    );
    const earlier = folderText();
    const result = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
    // drizzle-kit's file held only the DROP and the CREATE: it became the online migration.
    expect(result.written).toHaveLength(1);
    const file = readFileSync(join(out, `${result.written[0]}.sql`), 'utf8');
    expect(file).not.toMatch(/DROP INDEX|CREATE INDEX/);
    expect(onlineIndexDirectives(file)).toEqual([
      {
        kind: 'build',
        replace: true,
        spec: {
          table: { schema: 'public', name: 'app_events' },
          name: 'app_events_account_idx',
          columns: [
            { column: 'accountId' },
            { column: 'occurredAt', order: 'desc', nulls: 'last' },
            { column: 'kind' },
          ],
          unique: false,
          include: [],
        },
      },
    ]);
    for (const [name, body] of earlier) {
      if (name !== 'pgparts.json' && name !== join('meta', '_journal.json')) {
        expect(folderText().get(name), name).toBe(body);
      }
    }

    const definition = async () =>
      (
        await first.sql<{ def: string }[]>`
          SELECT pg_get_indexdef('app_events_account_idx'::regclass) AS def`
      )[0]?.def;
    const old = await definition();
    expect(old).toContain('("accountId", "occurredAt")');
    // (That the old index serves while each partition's new one is built is
    // test/ops/online-index-replace's; these partitions take a few ms each.)
    const told: OnlineIndexProgress[] = [];
    const applied = await migrate(first.db, {
      ...appOptions(),
      onOnlineIndex: (event) => told.push(event),
    });
    expect(applied.applied).toHaveLength(1);
    // Told as it went: the replacement, each partition once (1 of n ... n of n), the swap.
    const [partitions] = await first.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'app_events'::regclass`;
    const n = partitions?.n ?? 0;
    expect(n).toBeGreaterThan(5);
    const migration = result.written[0];
    expect(told[0]).toEqual({
      type: 'directive',
      migration,
      kind: 'replace',
      table: 'public.app_events',
      index: 'app_events_account_idx',
    });
    expect(told.slice(1, -1).map((e) => (e.type === 'partition' ? [e.done, e.total] : e))).toEqual(
      Array.from({ length: n }, (_, i) => [i + 1, n]),
    );
    expect(told.at(-1)).toEqual({ type: 'swap', migration, index: 'app_events_account_idx' });
    expect(await definition()).toContain('("accountId", "occurredAt" DESC NULLS LAST, kind)');
    const [left] = await first.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '%pgparts_new%'`;
    expect(left?.n).toBe(0);
  });

  it('a renamed index is renamed in place, and one removed is dropped once the new index on its table is built', async () => {
    const schemaFile = join(app.dir, 'src', 'schema.ts');
    const account = "index('app_events_account_idx').on(t.accountId, t.occurredAt.desc(), t.kind)";
    const source = "index('app_events_source_idx').on(t.source, t.occurredAt.desc())";
    const text = readFileSync(schemaFile, 'utf8');
    expect(text).toContain(account);
    expect(text).toContain(source);
    writeFileSync(
      schemaFile,
      text
        .replace(account, account.replace('app_events_account_idx', 'app_events_by_account'))
        .replace(source, "index('app_events_source_kind_idx').on(t.source, t.kind)"),
    );
    const result = await generate({ cwd: app.dir, config: 'pgparts.config.ts' });
    expect(result.written).toHaveLength(1);
    const file = readFileSync(join(out, `${result.written[0]}.sql`), 'utf8');
    expect(file).not.toMatch(/DROP INDEX|CREATE INDEX/);
    const table = { schema: 'public', name: 'app_events' };
    expect(onlineIndexDirectives(file)).toEqual([
      {
        kind: 'rename',
        rename: { table, from: 'app_events_account_idx', to: 'app_events_by_account' },
      },
      {
        kind: 'build',
        replace: false,
        spec: {
          table,
          name: 'app_events_source_kind_idx',
          columns: [{ column: 'source' }, { column: 'kind' }],
          unique: false,
          include: [],
        },
      },
      { kind: 'drop', drop: { table, name: 'app_events_source_idx' } },
    ]);

    const oid = async (name: string) =>
      (await first.sql<{ oid: number | null }[]>`SELECT to_regclass(${name})::oid::int8 AS oid`)[0]
        ?.oid ?? null;
    const accountOid = await oid('app_events_account_idx');
    expect(accountOid).not.toBeNull();
    expect((await migrate(first.db, appOptions())).applied).toHaveLength(1);
    // Renamed, not built again: the same index under its new name.
    expect(await oid('app_events_by_account')).toBe(accountOid);
    expect(await oid('app_events_account_idx')).toBeNull();
    expect(await oid('app_events_source_idx')).toBeNull();
    const [built] = await first.sql<{ valid: boolean }[]>`
      SELECT indisvalid AS valid FROM pg_index
      WHERE indexrelid = 'app_events_source_kind_idx'::regclass`;
    expect(built?.valid).toBe(true);
  });

  it('the migrated database and a fresh one end with the same catalog', async () => {
    expect((await migrate(fresh.db, appOptions())).applied).toHaveLength(7);
    const { families } = await loadAppConfig(join(app.dir, 'pgparts.config.ts'));
    for (const db of [first.db, fresh.db]) expect((await apply(db, { families })).ok).toBe(true);
    const a = await catalogShape(first.connect({ max: 1 }));
    const b = await catalogShape(fresh.connect({ max: 1 }));
    expect(a).toEqual(b);
    expect(a.tables.map((t) => t.name)).toContain('public.audit_log_acme_corp');
  });

  it('--check and generate refuse a journaled migration that was edited', async () => {
    const [firstTag] = readJournal(out).map((e) => e.tag);
    const file = join(out, `${firstTag}.sql`);
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, `${original}\n-- an afterthought`);
    try {
      await expect(
        generate({ cwd: app.dir, config: 'pgparts.config.ts', check: true }),
      ).rejects.toThrow(`pgparts: ${firstTag} changed after it was generated`);
      await expect(generate({ cwd: app.dir, config: 'pgparts.config.ts' })).rejects.toThrow(
        /changed after it was generated/,
      );
    } finally {
      writeFileSync(file, original);
    }
  });
});
