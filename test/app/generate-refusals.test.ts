import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { generate } from '../../src/migrations/generate.js';
import { fixtureApp } from '../support/fixture-app.js';
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

function folderText(): Map<string, string> {
  const files = new Map<string, string>();
  for (const dir of ['', 'meta']) {
    for (const name of readdirSync(join(out, dir))) {
      if (name !== 'meta') files.set(join(dir, name), readFileSync(join(out, dir, name), 'utf8'));
    }
  }
  return files;
}

const run = (check?: boolean) => generate({ cwd: app.dir, config: 'pgparts.config.ts', check });

/** Both generate and --check refuse with `message`, and the folder is as it was. */
async function expectRefused(message: RegExp): Promise<void> {
  const before = folderText();
  for (const check of [true, false]) {
    expectPgpartsError(await rejection(run(check)), 'migration', { message });
    expect(folderText()).toEqual(before);
  }
}

afterEach(() => writeFileSync(schemaFile, originalSchema));

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
});
