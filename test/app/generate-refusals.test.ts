import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runDrizzleKitGenerate } from '../../src/migrations/drizzle-kit.js';
import { generate } from '../../src/migrations/generate.js';
import { readState, stateText } from '../../src/migrations/generator-state.js';
import { journalPath, readJournal, readMigrations } from '../../src/migrations/journal.js';
import { parseOnlineIndexMigration } from '../../src/ops/online-index-migration.js';
import { fixtureApp } from '../support/fixture-app.js';
import { folderText } from '../support/migration-folder.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';

/**
 * What `pgparts generate` (and `--check`) refuse in examples/app's committed folder, before
 * anything is kept: each case edits the schema or the folder, and is undone after it.
 */
const app = fixtureApp({ withMigrations: true });
afterAll(() => app.remove());
const out = join(app.dir, 'drizzle');
const schemaFile = join(app.dir, 'src', 'schema.ts');
const originalSchema = readFileSync(schemaFile, 'utf8');

const run = (check?: boolean) => generate({ cwd: app.dir, config: 'pgparts.config.ts', check });

/** Each file's modification time, to the millisecond, by its path in the folder. */
function modified(): Map<string, number> {
  const times = new Map<string, number>();
  for (const file of folderText(out).keys())
    times.set(file, Math.round(statSync(join(out, file)).mtimeMs));
  return times;
}

/**
 * Both generate and --check refuse with `message`, and the folder is as it was: the same files,
 * none of them written again (their modification times unchanged).
 */
async function expectRefused(message: RegExp): Promise<void> {
  const before = folderText(out);
  const times = modified();
  for (const check of [true, false]) {
    expectPgpartsError(await rejection(run(check)), 'migration', { message });
    expect(folderText(out)).toEqual(before);
    expect(modified()).toEqual(times);
  }
}

// The committed folder, put back after each case.
const savedRoot = mkdtempSync(join(tmpdir(), 'pgparts-saved-'));
const saved = join(savedRoot, 'drizzle');
cpSync(out, saved, { recursive: true });
afterAll(() => rmSync(savedRoot, { recursive: true, force: true }));
afterEach(() => {
  writeFileSync(schemaFile, originalSchema);
  rmSync(out, { recursive: true, force: true });
  cpSync(saved, out, { recursive: true });
});

/** `drizzle-kit generate` run by hand, outside pgparts generate; returns the tag it wrote. */
function drizzleKitByHand(): string {
  expect(runDrizzleKitGenerate(app.dir, join(app.dir, 'drizzle.config.ts'))).toBe('wrote');
  const tag = readJournal(out).at(-1)?.tag;
  if (!tag) throw new Error('no journal entry');
  return tag;
}

/** Adds a journal entry and its file (no snapshot: generate refuses before drizzle-kit runs). */
function journalByHand(tag: string, sql: string): void {
  writeFileSync(join(out, `${tag}.sql`), sql);
  const journal = JSON.parse(readFileSync(journalPath(out), 'utf8'));
  const last = journal.entries.at(-1);
  journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1, tag });
  writeFileSync(journalPath(out), JSON.stringify(journal, null, 2));
}

const withIndex = (table: string, index: string) =>
  originalSchema.replace(table, `${table}\n    ${index},`);

/** What drizzle-kit left for kindIndexByHand's schema, once it has run (savedRoot/kind-index). */
let kindIndexFolder: string | undefined;

/**
 * The schema with an index on the partitioned app_events, and drizzle-kit's own file for it run
 * by hand; returns its tag. Two cases start from it: the first call launches drizzle-kit, a later
 * one copies what that launch left (the same files, without another second of CPU).
 */
function kindIndexByHand(): string {
  writeFileSync(
    schemaFile,
    withIndex(
      "    index('app_events_account_idx').on(t.accountId, t.occurredAt),",
      "index('app_events_kind_idx').on(t.kind)",
    ),
  );
  if (kindIndexFolder) {
    rmSync(out, { recursive: true, force: true });
    cpSync(kindIndexFolder, out, { recursive: true });
    const tag = readJournal(out).at(-1)?.tag;
    if (!tag) throw new Error('no journal entry');
    return tag;
  }
  const tag = drizzleKitByHand();
  kindIndexFolder = join(savedRoot, 'kind-index');
  cpSync(out, kindIndexFolder, { recursive: true });
  return tag;
}

describe('generate refuses', { timeout: 300_000 }, () => {
  it('a unique index or key of a partitioned table without the partition key', async () => {
    writeFileSync(
      schemaFile,
      originalSchema
        .replace(
          '(t) => [primaryKey({ columns: [t.region, t.id] })],',
          "(t) => [primaryKey({ columns: [t.region, t.id] }), uniqueIndex('region_orders_total_uq').on(t.totalCents, t.placedAt)],",
        )
        .replace('  index,', '  index,\n  uniqueIndex,'),
    );
    await expectRefused(
      /family region_orders: the UNIQUE index "region_orders_total_uq" on partitioned public\.region_orders must have every partition key column \(region\) among its columns, as plain columns/,
    );

    // A column's .unique() is a unique constraint: refused the same way.
    writeFileSync(
      schemaFile,
      originalSchema.replace(
        "    placedAt: timestamp('placedAt', { withTimezone: true }).defaultNow().notNull(),",
        "    placedAt: timestamp('placedAt', { withTimezone: true }).defaultNow().notNull(),\n    code: text('code').unique(),",
      ),
    );
    await expectRefused(
      /the unique constraint "region_orders_code_unique" on partitioned public\.region_orders must have every partition key column \(region\)/,
    );
  });

  it('but takes a unique index with the partition key (built online)', async () => {
    writeFileSync(
      schemaFile,
      originalSchema
        .replace(
          '(t) => [primaryKey({ columns: [t.region, t.id] })],',
          "(t) => [primaryKey({ columns: [t.region, t.id] }), uniqueIndex('region_orders_total_uq').on(t.totalCents, t.region)],",
        )
        .replace('  index,', '  index,\n  uniqueIndex,'),
    );
    const check = await run(true);
    expect(check.written).toHaveLength(1);
  });

  it("drizzle-kit's own file with a plain CREATE INDEX on a partitioned table, until removed", async () => {
    const tag = kindIndexByHand();
    await expectRefused(
      new RegExp(
        `${tag}\\.sql, not yet recorded by \`pgparts generate\`, builds an index on a partitioned table with a plain CREATE INDEX[\\s\\S]*\\n  CREATE INDEX "app_events_kind_idx" ON "app_events" USING btree \\("kind"\\);\\nNothing was written\\. Remove the file \\(\`npx drizzle-kit drop\`[\\s\\S]*writes the index as an online build`,
      ),
    );

    // Doing what it says: the file, its snapshot and its journal entry removed, generate builds
    // the index online.
    const entries = readJournal(out);
    const entry = entries.at(-1);
    rmSync(join(out, `${tag}.sql`));
    rmSync(join(out, 'meta', `${String(entry?.idx).padStart(4, '0')}_snapshot.json`));
    const journal = JSON.parse(readFileSync(journalPath(out), 'utf8'));
    journal.entries.pop();
    writeFileSync(journalPath(out), JSON.stringify(journal, null, 2));
    const result = await run();
    expect(result.written).toHaveLength(1);
    const online = readFileSync(join(out, `${result.written[0]}.sql`), 'utf8');
    expect(parseOnlineIndexMigration(online).map((s) => s.name)).toEqual(['app_events_kind_idx']);
  });

  it("a rename's file that re-creates an index, with what to delete", async () => {
    journalByHand(
      '0002_rename',
      [
        'ALTER TABLE "app_events" RENAME COLUMN "accountId" TO "userId";',
        'DROP INDEX "app_events_account_idx";',
        'CREATE INDEX "app_events_account_idx" ON "app_events" USING btree ("userId","occurredAt");',
      ].join('--> statement-breakpoint\n'),
    );
    await expectRefused(
      /0002_rename\.sql, [\s\S]*\n {2}CREATE INDEX "app_events_account_idx" ON "app_events" USING btree \("userId","occurredAt"\);\n[\s\S]*PostgreSQL keeps the indexes through RENAME COLUMN: delete its DROP INDEX and CREATE INDEX lines/,
    );
  });

  it("but not such a file once recorded, nor a plain table's CREATE INDEX", async () => {
    const tag = kindIndexByHand();
    // Recorded (as an earlier pgparts generate did, before this check): history, kept as it is.
    const state = readState(out);
    const file = readMigrations(out).find((f) => f.tag === tag);
    if (!state || !file) throw new Error('no state');
    state.migrations[tag] = file.hash;
    writeFileSync(join(out, 'pgparts.json'), stateText(state));
    expect((await run(true)).stale).toEqual([]);

    // An index of the plain accounts table: drizzle-kit's CREATE INDEX, recorded as it is.
    writeFileSync(
      schemaFile,
      originalSchema.replace(
        "  createdAt: timestamp('createdAt', { withTimezone: true }).defaultNow().notNull(),\n});",
        "  createdAt: timestamp('createdAt', { withTimezone: true }).defaultNow().notNull(),\n}, (t) => [index('accounts_name_idx').on(t.displayName)]);",
      ),
    );
    rmSync(out, { recursive: true, force: true });
    cpSync(saved, out, { recursive: true });
    const plain = drizzleKitByHand();
    expect(readFileSync(join(out, `${plain}.sql`), 'utf8')).toContain(
      'CREATE INDEX "accounts_name_idx" ON "accounts"',
    );
    expect((await run()).written).toEqual([]);
    expect(readState(out)?.migrations[plain]).toBeDefined();
  });

  it('partition key columns of a type the engine refuses, every family at once', async () => {
    const configFile = join(app.dir, 'pgparts.config.ts');
    const config = readFileSync(configFile, 'utf8');
    writeFileSync(
      schemaFile,
      `${originalSchema.replace('  bigserial,', '  bigserial,\n  integer,\n  pgEnum,\n  varchar,')}
export const orderStatus = pgEnum('order_status', ['new', 'paid']);
export const statusLog = pgTable('status_log', { status: orderStatus('status').notNull(), id: bigint('id', { mode: 'number' }).notNull() });
export const idRange = pgTable('id_range', { id: bigint('id', { mode: 'number' }).notNull() });
export const tenantNotes = pgTable('tenant_notes', { tenant: integer('tenant').notNull() });
export const shortCodes = pgTable('short_codes', { code: varchar('code', { length: 16 }).notNull() });
`,
    );
    const families = [
      "{ name: 'status_log', tables: [s.statusLog], partitionBy: { strategy: 'list', column: 'status', values: ['new', 'paid'] }, defaultPartition: true }",
      "{ name: 'id_range', tables: [s.idRange], partitionBy: { strategy: 'range', column: 'id', interval: 'month', premake: 1 } }",
      "{ name: 'tenant_notes', tables: [s.tenantNotes], partitionBy: { strategy: 'list', column: 'tenant', values: ['1', 'two'] } }",
      // A length does not matter: accepted.
      "{ name: 'short_codes', tables: [s.shortCodes], partitionBy: { strategy: 'list', column: 'code', values: ['a'] } }",
    ];
    try {
      writeFileSync(
        configFile,
        `${config.replace('\n];', `\n${families.map((f) => `  partitionFamily(${f}),`).join('\n')}\n];`)}import * as s from './src/schema';\n`,
      );
      await expectRefused(
        new RegExp(
          [
            "partition key columns of a type the partitions cannot have; PostgreSQL cannot change a partition key's type once the table exists, so nothing was written:",
            '  - family status_log: table public\\.status_log: partition key status is public\\.order_status; LIST families with text values need text, character varying or character',
            '  - family id_range: table public\\.id_range: partition key id is bigint; RANGE families \\(bounds are dates and times\\) need timestamp with time zone, timestamp without time zone or date',
            "  - family tenant_notes: table public\\.tenant_notes: partition key tenant is integer; LIST families with text values need text, character varying or character \\(the column takes integer values: give them as numbers, or set valueType: 'integer'\\)",
            'Change the column',
          ].join('\n'),
        ),
      );
    } finally {
      writeFileSync(configFile, config);
    }
  });

  it("two tables' partitions with one name, refused when the config is read", async () => {
    const configFile = join(app.dir, 'pgparts.config.ts');
    const config = readFileSync(configFile, 'utf8');
    writeFileSync(
      schemaFile,
      `${originalSchema}
export const ev = pgTable('ev', { k: text('k').notNull() });
export const evX = pgTable('ev_x', { k: text('k').notNull() });
`,
    );
    try {
      writeFileSync(
        configFile,
        `${config.replace('\n];', "\n  partitionFamily({ name: 'ev', tables: [s.ev, s.evX], partitionBy: { strategy: 'list', column: 'k', values: ['x_1', '1'], naming: '{table}_{value}' }, defaultPartition: true }),\n];")}import * as s from './src/schema';\n`,
      );
      const before = folderText(out);
      for (const check of [true, false]) {
        // Thrown by the app's own pgparts (the bundle the config imports), another instance.
        expect(await rejection(run(check))).toMatchObject({
          code: 'invalid-config',
          message: expect.stringMatching(
            /ev's partition of "x_1" and ev_x's partition of "1" would both be named ev_x_1/,
          ),
        });
        expect(folderText(out)).toEqual(before);
      }
    } finally {
      writeFileSync(configFile, config);
    }
  });

  it('every invalid family of the config in one run', async () => {
    const configFile = join(app.dir, 'pgparts.config.ts');
    const config = readFileSync(configFile, 'utf8');
    const bad = config
      .replace('premake: 7, past: 3 },', 'premake: 7, past: 31 },')
      .replace(
        "naming: '{table}_{value}',",
        "naming: '{table}_{value}',\n      valueType: 'integer',",
      );
    expect(bad).not.toBe(config);
    try {
      writeFileSync(configFile, bad);
      const before = folderText(out);
      for (const check of [true, false]) {
        // Thrown by the app's own pgparts (the bundle the config imports), another instance.
        expect(await rejection(run(check))).toMatchObject({
          code: 'invalid-config',
          message: expect.stringMatching(
            /2 families are invalid:\n.*family "app_events":\n {2}- partitionBy\.past: past \(31\) reaches back beyond retention\.keep \(30\)[\s\S]*family "region_orders":\n {2}- partitionBy\.values: an integer LIST cannot hold "eu-west"/,
          ),
        });
        expect(folderText(out)).toEqual(before);
      }
    } finally {
      writeFileSync(configFile, config);
    }
  });

  it("a RANGE family's changed interval, read from the earlier migrations or recorded", async () => {
    const configFile = join(app.dir, 'pgparts.config.ts');
    const config = readFileSync(configFile, 'utf8');
    const weekly = config.replace("interval: 'day'", "interval: 'week'");
    expect(weekly).not.toBe(config);
    const refusal =
      /family app_events was migrated with interval day; the config says week\. A RANGE family's interval cannot be changed by a migration/;
    try {
      // The committed pgparts.json predates the interval: 0001's first partitions tell it.
      expect(readState(out)?.families.app_events).not.toHaveProperty('interval');
      writeFileSync(configFile, weekly);
      await expectRefused(refusal);

      // A state written now records it (none for a LIST family), and a change is refused.
      writeFileSync(configFile, config);
      rmSync(join(out, 'pgparts.json'));
      await run();
      expect(readState(out)?.families.app_events?.interval).toBe('day');
      expect(readState(out)?.families.region_orders).not.toHaveProperty('interval');
      writeFileSync(configFile, weekly);
      await expectRefused(refusal);
    } finally {
      writeFileSync(configFile, config);
    }
  });

  it('a table its migrations created plain, declared partitioned: refused, unless the config converts it online', async () => {
    const configFile = join(app.dir, 'pgparts.config.ts');
    const config = readFileSync(configFile, 'utf8');
    const notes = `
export const appNotes = pgTable(
  'app_notes',
  {
    id: bigint('id', { mode: 'number' }).notNull(),
    writtenAt: timestamp('writtenAt', { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.id, t.writtenAt] })],
);
`;
    const family = `
const notesFamily = partitionFamily({
  name: 'app_notes',
  tables: [appNotes],
  partitionBy: { strategy: 'range', column: 'writtenAt', interval: 'month', premake: 1 },
});
families.push(notesFamily);
`;
    try {
      // The app's migrations create it plain, as it was.
      writeFileSync(schemaFile, `${originalSchema}${notes}`);
      await run();
      const plain = readMigrations(out).at(-1)?.text ?? '';
      expect(plain).toContain('CREATE TABLE "app_notes"');
      expect(plain).not.toContain('PARTITION BY');
      const withFamily =
        config.replace(
          "import { appEvents, regionOrders } from './src/schema';",
          "import { appEvents, appNotes, regionOrders } from './src/schema';",
        ) + family;
      expect(withFamily).toContain('appNotes, regionOrders');
      writeFileSync(configFile, withFamily);
      await expectRefused(
        /app_notes was created by an earlier migration without PARTITION BY.*convert it online: export the family in pgparts\.config's `conversions`/s,
      );
      // Converted online: generate leaves the table to the conversion, and knows it from now on.
      writeFileSync(
        configFile,
        `${withFamily.replace("import { partitionFamily } from 'pgparts';", "import { conversionTarget, partitionFamily } from 'pgparts';")}
export const conversions = [conversionTarget({ family: notesFamily, tables: [appNotes] })];
`,
      );
      const before = readMigrations(out).length;
      await run();
      const written = readMigrations(out)
        .slice(before)
        .map((m) => m.text)
        .join('\n');
      expect(written).not.toMatch(/app_notes/);
      expect(readState(out)?.families.app_notes).toBeDefined();
      await run(true);
    } finally {
      writeFileSync(configFile, config);
    }
  });
});
