import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { PLAIN_TABLES } from '../../drizzle.config.js';
import { parseFamily } from '../../src/define/spec.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import * as schema from '../../src/domains/schema.js';
import { generate } from '../../src/migrations/generate.js';
import { addPartitionClause } from '../../src/migrations/partition-clauses.js';
import { familyMigrationSql } from '../../src/sql/partition-ddl.js';
import { expectPgpartsError, thrown } from '../support/pgparts-error.js';

describe('committed migrations', () => {
  it('are what `npm run db:generate` (pgparts generate) writes from the current schema and specs', async () => {
    const result = await generate({ config: 'pgparts.config.ts', check: true });
    expect(result.stale).toEqual([]);
    expect(result.written).toEqual([]);
  }, 120_000);

  it('partition a parent once, however often the clause is added', () => {
    const family = parseFamily({
      name: 'k',
      tables: ['killmails_raw'],
      partitionBy: { strategy: 'range', column: 'killmail_time', interval: 'month' },
    });
    const sql =
      'CREATE TABLE "killmails_raw" (\n\t"a" int\n);\n--> statement-breakpoint\nCREATE TABLE "x" (\n\t"b" int\n);';
    const once = addPartitionClause(sql, family, 'killmails_raw');
    expect(once).toContain('\n) PARTITION BY RANGE ("killmail_time");');
    expect(once).toContain('CREATE TABLE "x" (\n\t"b" int\n);');
    expect(addPartitionClause(once, family, 'killmails_raw')).toBe(once);
  });
});

describe("a family's first partitions, created when its migration runs", () => {
  const daily = (table: string, naming?: string) =>
    parseFamily({
      name: 'long_one',
      tables: [table],
      partitionBy: {
        strategy: 'range',
        column: 'at',
        interval: 'day',
        premake: 2,
        ...(naming ? { naming } : {}),
      },
    });

  it('are refused when generating if a name would pass 63 bytes (PostgreSQL would cut it when migrating)', () => {
    // 55 characters + `_2026_12_02`: 66 bytes. The migration's block builds each name as it runs;
    // cut to 63, a day's name would be the month's, taken by the first day, and the rest skipped.
    const table = 'a_really_long_partitioned_table_name_for_measurements_x';
    expectPgpartsError(
      thrown(() => familyMigrationSql(daily(table))),
      'invalid-config',
      {
        message:
          /family long_one: partition name "a_really_long_\w+_1970_01_01" is not usable \(.*66/,
      },
    );
    expect(familyMigrationSql(daily(table.slice(0, 52))).join('\n')).toContain('DO $');
  });

  it('need {table} first and {suffix} once in the naming scheme, and the message says which family', () => {
    expectPgpartsError(
      thrown(() => familyMigrationSql(daily('m', 'p{suffix}_of_{table}'))),
      'invalid-config',
      {
        message: /family long_one: .*"p\{suffix\}_of_\{table\}" does not/,
      },
    );
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
