import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../../src/migrations/generate.js';
import { readJournal } from '../../src/migrations/journal.js';
import { readSnapshot, snapshotFile } from '../../src/migrations/online-indexes.js';
import { parseOnlineIndexMigration } from '../../src/ops/online-index-migration.js';
import { fixtureApp } from '../support/fixture-app.js';
import { folderText } from '../support/migration-folder.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';

/**
 * examples/app with drizzle.config `migrations: { prefix: 'timestamp' }`: drizzle-kit names each
 * migration and its snapshot by the second it was written (meta/20261202013331_snapshot.json),
 * and generate's checks read those snapshots as they do meta/0003_snapshot.json.
 */
const app = fixtureApp();
afterAll(() => app.remove());
const out = join(app.dir, 'drizzle');
const schemaFile = join(app.dir, 'src', 'schema.ts');
const configFile = join(app.dir, 'drizzle.config.ts');
const config = readFileSync(configFile, 'utf8');
const run = () => generate({ cwd: app.dir, config: 'pgparts.config.ts' });

const withIndexes = (...indexes: string[]) =>
  readFileSync(schemaFile, 'utf8')
    .replace(
      "    index('app_events_account_idx').on(t.accountId, t.occurredAt),",
      ["    index('app_events_account_idx').on(t.accountId, t.occurredAt),", ...indexes].join(
        '\n    ',
      ),
    )
    .replace('  index,', '  index,\n  uniqueIndex,');

describe('generate with a timestamp migrations prefix', { timeout: 300_000 }, () => {
  it("reads drizzle-kit's snapshots by its names: unique keys checked, new indexes built online", async () => {
    writeFileSync(
      configFile,
      config.replace(
        "out: './drizzle',",
        "out: './drizzle',\n  migrations: { prefix: 'timestamp' },",
      ),
    );
    const first = await run();
    expect(first.written).toHaveLength(2);
    for (const tag of first.written) expect(tag).toMatch(/^\d{14}_/);
    // One snapshot per migration, none overwritten by the next in the same second.
    expect(readdirSync(join(out, 'meta')).filter((f) => f !== '_journal.json')).toEqual(
      first.written.map((tag) => `${tag.slice(0, 14)}_snapshot.json`),
    );

    // A unique index without the partition key: refused, nothing kept.
    const schema = readFileSync(schemaFile, 'utf8');
    const before = folderText(out);
    writeFileSync(
      schemaFile,
      withIndexes(
        "index('app_events_kind_idx').on(t.kind, t.occurredAt),",
        "uniqueIndex('app_events_id_uq').on(t.id),",
      ),
    );
    expectPgpartsError(await rejection(run()), 'migration', {
      message:
        /the UNIQUE index "app_events_id_uq" on partitioned public\.app_events must have every partition key column \(occurredAt\)/,
    });
    expect(folderText(out)).toEqual(before);

    // A new index on the partitioned table: built online, not drizzle-kit's CREATE INDEX.
    writeFileSync(schemaFile, schema);
    writeFileSync(
      schemaFile,
      withIndexes("index('app_events_kind_idx').on(t.kind, t.occurredAt),"),
    );
    const second = await run();
    expect(second.written).toHaveLength(1);
    const online = readFileSync(join(out, `${second.written[0]}.sql`), 'utf8');
    expect(parseOnlineIndexMigration(online).map((s) => s.name)).toEqual(['app_events_kind_idx']);
  });

  it("refuses a missing snapshot, and the 'none' prefix drizzle-kit cannot generate into", async () => {
    const tag = readJournal(out).at(-1)?.tag ?? '';
    expect(readSnapshot(out, tag)).toHaveProperty('tables');
    expectPgpartsError(
      thrown(() => readSnapshot(out, '20000101000000_gone')),
      'migration',
      {
        message:
          /snapshot of migration 20000101000000_gone \(meta\/20000101000000_snapshot\.json\) is missing/,
      },
    );
    expect(snapshotFile('1796175621_amazing_stranger')).toBe('1796175621_snapshot.json');
    expect(snapshotFile('0003_online_indexes')).toBe('0003_snapshot.json');

    const before = folderText(out);
    writeFileSync(
      configFile,
      config.replace("out: './drizzle',", "out: './drizzle',\n  migrations: { prefix: 'none' },"),
    );
    expectPgpartsError(await rejection(run()), 'invalid-config', {
      message: /migrations\.prefix 'none' cannot be generated into/,
    });
    expect(folderText(out)).toEqual(before);
  });
});
