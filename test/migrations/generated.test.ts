import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { PLAIN_TABLES } from '../../drizzle.config.js';
import { addPartitionClauses, staleMigrationFiles } from '../../scripts/generate-migrations.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import * as schema from '../../src/domains/schema.js';

describe('committed migrations', () => {
  it('are what `npm run db:generate` writes from the current schema and specs', () => {
    expect(staleMigrationFiles()).toEqual([]);
  }, 120_000);

  it('partition each parent once, however often the generator runs', () => {
    const sql =
      'CREATE TABLE "killmails_raw" (\n\t"a" int\n);\n--> statement-breakpoint\nCREATE TABLE "x" (\n\t"b" int\n);';
    const once = addPartitionClauses(sql);
    expect(once).toContain('\n) PARTITION BY RANGE ("killmail_time");');
    expect(once).toContain('CREATE TABLE "x" (\n\t"b" int\n);');
    expect(addPartitionClauses(once)).toBe(once);
  });
});

describe('drizzle.config.ts', () => {
  it('lets push/pull see exactly the non-partitioned tables', () => {
    const partitioned = new Set(builtInFamilies.flatMap((f) => f.tables));
    const tables = (Object.values(schema) as unknown[])
      .filter((v): v is PgTable => v instanceof PgTable)
      .map((table) => getTableConfig(table).name);
    expect([...PLAIN_TABLES].sort()).toEqual(tables.filter((n) => !partitioned.has(n)).sort());
  });
});
