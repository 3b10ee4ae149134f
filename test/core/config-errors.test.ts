import { bigint, integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { assertDistinctPartitionNames } from '../../src/define/partition-key.js';
import { parseFamilies, parseFamily, partitionFamily } from '../../src/define/spec.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { SpecMismatchError } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';
import { recordingDatabase } from '../support/recording.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** Statements that change something: DDL and data changes. */
const DDL = /^\s*(CREATE|ALTER|DROP|COMMENT\s+ON|TRUNCATE|INSERT|UPDATE|DELETE|DO)\b/i;

describe('bad configuration fails with a clear message before any SQL runs', () => {
  it.each([
    [
      'an unknown interval',
      { partitionBy: { ...killmailFamily.partitionBy, interval: 'fortnight' } },
      /partitionBy\.interval: unknown interval "fortnight": use one of day, week, month, year/,
    ],
    [
      'premake below zero',
      { partitionBy: { ...killmailFamily.partitionBy, premake: -1 } },
      /partitionBy\.premake: premake must be 0 or more/,
    ],
    [
      'a table name longer than PostgreSQL keeps',
      { tables: ['k'.repeat(64)] },
      /tables\.0: an identifier is at most 63 bytes/,
    ],
    ['an empty schema name', { schema: '' }, /schema: an identifier cannot be empty/],
  ])('%s: refused, nothing sent to the server', async (_what, change, message) => {
    const { db, statements } = recordingDatabase(t);
    const bad = { ...killmailFamily, ...change } as unknown as typeof killmailFamily;
    expectPgpartsError(await rejection(apply(db, { families: [bad] })), 'invalid-config', {
      message: message,
    });
    expectPgpartsError(await rejection(apply(db, { families: [bad] })), 'invalid-config', {
      message: /invalid partition spec for family "killmails"/,
    });
    expect(statements).toEqual([]);
  });

  it.each([
    [
      'a table name with a quote and a semicolon',
      { tables: ['killmails_raw"; DROP TABLE season; --'] },
    ],
    ['a schema with a semicolon', { schema: 'public;' }],
  ])(
    '%s: a name, not SQL: refused as missing after reading the catalog, no DDL sent',
    async (_what, change) => {
      const { db, statements } = recordingDatabase(t);
      const odd = parseFamily({ ...killmailFamily, ...change });
      await expect(apply(db, { families: [odd] })).rejects.toThrow(
        /does not exist; create it first/,
      );
      expect(statements.filter((s) => DDL.test(s))).toEqual([]);
      expect((await t.sql`SELECT to_regclass('public.season') IS NOT NULL AS ok`)[0]?.ok).toBe(
        true,
      );
    },
  );

  it('a column that is not the partition key: refused after reading the catalog, before any DDL', async () => {
    const { db, statements } = recordingDatabase(t);
    const wrong = parseFamily({
      ...killmailFamily,
      partitionBy: { ...killmailFamily.partitionBy, column: 'inserted_at' },
    });
    const failure = await apply(db, { families: [wrong] }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(SpecMismatchError);
    expect((failure as SpecMismatchError).problems).toEqual([
      'family killmails: table public.killmails_raw is partitioned by RANGE (killmail_time), but the spec says RANGE (inserted_at); fix partitionBy in family killmails',
      'family killmails: table public.killmails_enriched is partitioned by RANGE (killmail_time), but the spec says RANGE (inserted_at); fix partitionBy in family killmails',
      'family killmails: table public.killmail_participants is partitioned by RANGE (killmail_time), but the spec says RANGE (inserted_at); fix partitionBy in family killmails',
    ]);
    expect(statements.length).toBeGreaterThan(0);
    expect(statements.filter((s) => DDL.test(s))).toEqual([]);
  });

  it('a LIST spec on a table that is not partitioned, and a missing valuesFrom table', async () => {
    const { db, statements } = recordingDatabase(t);
    const wrong = parseFamily({
      name: 'seasons',
      tables: ['season'],
      partitionBy: {
        strategy: 'list',
        column: 'id',
        valuesFrom: { table: 'no_such_table', column: 'id' },
      },
    });
    expectPgpartsError(await rejection(apply(db, { families: [wrong] })), 'spec-mismatch', {
      message:
        /table public\.season is not partitioned; it must be LIST \(id\)[\s\S]*valuesFrom public\.no_such_table\.id does not exist/,
    });
    expect(statements.filter((s) => DDL.test(s))).toEqual([]);
  });

  it("a key column's type, by the rule generate uses: an enum refused, a length ignored", async () => {
    await t.sql.unsafe(`
      CREATE TYPE key_status AS ENUM ('new', 'paid');
      CREATE TABLE status_log (status key_status NOT NULL, id int NOT NULL) PARTITION BY LIST (status);
      CREATE TABLE short_codes (code varchar(16) NOT NULL) PARTITION BY LIST (code);
      CREATE TABLE ticks (at timestamp(3) with time zone NOT NULL) PARTITION BY RANGE (at);
    `);
    const { db, statements } = recordingDatabase(t);
    const list = (name: string, column: string) =>
      parseFamily({
        name,
        tables: [name],
        partitionBy: { strategy: 'list', column, values: ['new'] },
      });
    expectPgpartsError(
      await rejection(apply(db, { families: [list('status_log', 'status')] })),
      'spec-mismatch',
      {
        message:
          /family status_log: table public\.status_log: partition key status is (public\.)?key_status; LIST families with text values need text, character varying or character$/m,
      },
    );
    expect(statements.filter((s) => DDL.test(s))).toEqual([]);
    const ticks = parseFamily({
      name: 'ticks',
      tables: ['ticks'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0 },
    });
    const result = await apply(db, { families: [list('short_codes', 'code'), ticks] });
    expect(result.failed).toBe(0);
    expect(
      (await t.sql`SELECT to_regclass('public.short_codes_snew') IS NOT NULL AS ok`)[0]?.ok,
    ).toBe(true);
  });

  it('(control) the recorder does see the DDL of a run that has work to do', async () => {
    const { db, statements } = recordingDatabase(t);
    await t.sql`INSERT INTO season (id, name) VALUES (40, 'S40')`;
    const result = await apply(db, { families: [leaderboardFamily] });
    expect(result.done).toBe(2);
    // pgparts's ownership tables (once), the carried-over partitions, then each new partition
    // with its ownership row in the same transaction.
    const owned = (table: string) =>
      expect.stringMatching(
        new RegExp(
          `^INSERT INTO "public"\\."pgparts_owned_tables" .*'"public"\\."${table}"'::regclass`,
          's',
        ),
      );
    // The run's own record (pgparts_maintenance_runs: its 'running' row goes out with the first
    // change, its outcome after the steps); the steps are what comes before the outcome.
    const record = statements.findLastIndex((s) => s.includes('pgparts_maintenance_runs'));
    expect(record).toBeGreaterThan(0);
    const changes = statements.slice(0, record).filter((s) => DDL.test(s));
    expect(changes.slice(0, 2)).toEqual([
      expect.stringMatching(/^CREATE TABLE IF NOT EXISTS "public"\."pgparts_owned_tables"/),
      expect.stringMatching(/^CREATE TABLE IF NOT EXISTS "public"\."pgparts_ownership_adopted"/),
    ]);
    expect(changes.filter((s) => /^CREATE TABLE "public"\."[a-z_]+_s40"/.test(s))).toEqual([
      'CREATE TABLE "public"."leaderboard_run_s40" (LIKE "public"."leaderboard_run" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)',
      'CREATE TABLE "public"."run_group_member_s40" (LIKE "public"."run_group_member" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)',
    ]);
    expect(changes.filter((s) => s.includes('ATTACH PARTITION'))).toHaveLength(2);
    expect(changes.filter((s) => s.startsWith('COMMENT ON TABLE'))).toEqual([
      `COMMENT ON TABLE "public"."leaderboard_run_s40" IS 'pgparts:managed'`,
      `COMMENT ON TABLE "public"."run_group_member_s40" IS 'pgparts:managed'`,
    ]);
    expect(changes).toContainEqual(owned('leaderboard_run_s40'));
    expect(changes).toContainEqual(owned('run_group_member_s40'));
  });

  it('inspect itself never changes anything', async () => {
    const { db, statements } = recordingDatabase(t);
    await inspect(db, [leaderboardFamily, killmailFamily]);
    expect(statements.filter((s) => DDL.test(s))).toEqual([]);
  });
});

describe('partitionFamily takes its schema from its Drizzle tables', () => {
  const app = pgSchema('app');
  const orders = app.table('orders', {
    id: bigint('id', { mode: 'number' }).notNull(),
    tenantId: integer('tenant_id').notNull(),
  });
  const items = app.table('order_items', {
    id: bigint('id', { mode: 'number' }).notNull(),
    tenantId: integer('tenant_id').notNull(),
  });
  const plain = pgTable('plain_notes', { tenantId: integer('tenant_id').notNull() });
  const spec = {
    name: 'orders',
    partitionBy: { strategy: 'list' as const, column: 'tenant_id', values: [1] },
  };

  it("a pgSchema table's family is in that schema without saying so; a schema given must match", () => {
    expect(partitionFamily({ ...spec, tables: [orders, items] }).schema).toBe('app');
    expect(partitionFamily({ ...spec, tables: [plain] }).schema).toBe('public');
    expectPgpartsError(
      thrown(() => partitionFamily({ ...spec, tables: [orders, plain] })),
      'invalid-config',
      {
        message:
          /table plain_notes is in schema public, the family in app; a family's tables share one schema/,
      },
    );
    expectPgpartsError(
      thrown(() => partitionFamily({ ...spec, schema: 'public', tables: [orders] })),
      'invalid-config',
      { message: /table orders is in schema app, the family in public/ },
    );
  });

  it('what is not a Drizzle table (a JavaScript config passes anything) is refused by name', () => {
    // A table's name gave a TypeError from inside drizzle-orm ("Cannot convert undefined or null
    // to object"); no table at all, another one (reading `column` of undefined).
    const asInput = (value: unknown) => value as Parameters<typeof partitionFamily>[0];
    expectPgpartsError(
      thrown(() => partitionFamily(asInput({ ...spec, tables: ['orders'] }))),
      'invalid-config',
      {
        message:
          /family "orders": *\n {2}- tables\.0: "orders" is a table's name: partitionFamily takes the Drizzle tables \(pgTable\(\.\.\.\)\); a spec that names its tables is a plain object, without partitionFamily/,
      },
    );
    expectPgpartsError(
      thrown(() => partitionFamily(asInput({ ...spec, tables: [] }))),
      'invalid-config',
      { message: /- tables: at least one Drizzle table/ },
    );
    expectPgpartsError(
      thrown(() => partitionFamily(asInput({ name: 'orders', tables: [orders] }))),
      'invalid-config',
      { message: /- partitionBy: Invalid input: expected object/ },
    );
    expectPgpartsError(
      thrown(() => partitionFamily(asInput(undefined))),
      'invalid-config',
      {
        message: /^pgparts: invalid partition spec for a family:/,
      },
    );
  });
});

describe('partition names must differ over every table of a family', () => {
  const ev = pgTable('ev', { k: text('k').notNull() });
  const evX = pgTable('ev_x', { k: text('k').notNull() });

  it("two tables' partitions of two values: refused when the spec is declared", () => {
    expectPgpartsError(
      thrown(() =>
        partitionFamily({
          name: 'ev',
          tables: [ev, evX],
          partitionBy: {
            strategy: 'list',
            column: 'k',
            values: ['x_1', '1'],
            naming: '{table}_{value}',
          },
          defaultPartition: true,
        }),
      ),
      'invalid-config',
      {
        message:
          /invalid partition spec for family "ev":\n {2}- partitionBy: ev's partition of "x_1" and ev_x's partition of "1" would both be named ev_x_1; change partitionBy\.naming/,
      },
    );
    // A table named as another's DEFAULT partition.
    const evDefault = pgTable('ev_default', { k: text('k').notNull() });
    expectPgpartsError(
      thrown(() =>
        partitionFamily({
          name: 'ev',
          tables: [ev, evDefault],
          partitionBy: { strategy: 'list', column: 'k', values: ['a'] },
          defaultPartition: true,
        }),
      ),
      'invalid-config',
      {
        message:
          /ev's DEFAULT partition would be named ev_default, the name of the family's table ev_default/,
      },
    );
  });

  it('keys the plan finds (a RANGE window): a partition named as another table of the family', () => {
    const yearly = parseFamily({
      name: 'yearly',
      tables: ['ev', 'ev_2026'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'year' },
    });
    const key = {
      kind: 'range' as const,
      from: new Date('2026-01-01Z'),
      to: new Date('2027-01-01Z'),
    };
    expectPgpartsError(
      thrown(() => assertDistinctPartitionNames(yearly, [key])),
      'invalid-config',
      {
        message:
          /family yearly: ev's partition of "2026-01-01\.\.2027-01-01" would be named ev_2026, the name of the family's table ev_2026/,
      },
    );
  });
});

describe('every invalid family at once', () => {
  it('parseFamilies lists each invalid family, not only the first', () => {
    const range = (name: string, past: number) => ({
      name,
      tables: [name],
      partitionBy: { strategy: 'range', column: 'at', interval: 'day', past },
      retention: { keep: 3 },
    });
    expectPgpartsError(
      thrown(() => parseFamilies([range('daily_stats', 4), range('fine', 1), range('ticks', 5)])),
      'invalid-config',
      {
        message:
          /^pgparts: 2 families are invalid:\npgparts: invalid partition spec for family "daily_stats":\n {2}- partitionBy\.past: past \(4\) reaches back beyond retention\.keep \(3\)[^\n]*\npgparts: invalid partition spec for family "ticks":\n {2}- partitionBy\.past: past \(5\)/,
      },
    );
  });
});
