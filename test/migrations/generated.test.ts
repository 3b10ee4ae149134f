import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { PLAIN_TABLES } from '../../drizzle.config.js';
import { parseFamily } from '../../src/define/spec.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import * as schema from '../../src/domains/schema.js';
import { generate } from '../../src/migrations/generate.js';
import { addPartitionClause } from '../../src/migrations/partition-clauses.js';

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

describe('drizzle.config.ts', () => {
  it('lets push/pull see exactly the non-partitioned tables', () => {
    const partitioned = new Set(builtInFamilies.flatMap((f) => f.tables));
    const tables = (Object.values(schema) as unknown[])
      .filter((v): v is PgTable => v instanceof PgTable)
      .map((table) => getTableConfig(table).name);
    expect([...PLAIN_TABLES].sort()).toEqual(tables.filter((n) => !partitioned.has(n)).sort());
  });
});
