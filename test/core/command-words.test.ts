import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { resolveKey } from '../../src/cli/key-argument.js';
import { keyWord, shellWord, tableArgument } from '../../src/define/command-words.js';
import { parseFamily } from '../../src/define/spec.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/** What a POSIX shell makes of `words` pasted after `printf '%s\n'`: one line per argument. */
function shellArguments(words: string): string[] {
  return execFileSync('sh', ['-c', `printf '%s\\n' ${words}`], { encoding: 'utf8' })
    .split('\n')
    .slice(0, -1);
}

/** Two families whose tables share a name, each in a schema of its own. */
const tenant = (schema: string) =>
  parseFamily({
    name: `${schema}_orders`,
    schema,
    tables: ['orders'],
    partitionBy: { strategy: 'list', column: 'region', values: ['eu'] },
    defaultPartition: true,
  });
const a = tenant('tenant_a');
const b = tenant('tenant_b');

describe('the commands messages suggest, as a shell reads them', () => {
  it('quotes a word only where the shell would split or change it', () => {
    const words = [
      'orders',
      'ap south',
      "O'Brien",
      '',
      ' eu-west',
      'z?rich',
      '$HOME',
      'Daily Stats',
    ];
    for (const word of words) expect(shellArguments(shellWord(word))).toEqual([word]);
    expect(shellWord('leaderboard_run')).toBe('leaderboard_run');
    expect(shellWord('2026-11-01')).toBe('2026-11-01');
    expect(shellWord('ap south')).toBe("'ap south'");
    expect(keyWord({ kind: 'list', value: "O'Brien" })).toBe(`'O'\\''Brien'`);
  });

  it('names a table alone where that reaches one family, else as schema.table', () => {
    expect(tableArgument(a, 'orders', [a])).toBe('orders');
    expect(tableArgument(a, 'orders', [a, b])).toBe('tenant_a.orders');
    expect(tableArgument(b, 'orders')).toBe('tenant_b.orders');
    expect(tableArgument({ schema: 'public' }, 'Daily Stats')).toBe("'Daily Stats'");
  });
});

describe("the CLI's <table>", () => {
  it('takes schema.table or the family name, and refuses a name two families share', () => {
    expect(resolveKey([a, b], 'tenant_b.orders', 'eu').family.name).toBe('tenant_b_orders');
    expect(resolveKey([a, b], 'tenant_a.orders', 'eu').family.name).toBe('tenant_a_orders');
    expect(resolveKey([a, b], 'tenant_b_orders', 'eu').family.name).toBe('tenant_b_orders');
    expect(resolveKey([a], 'orders', 'eu').family.name).toBe('tenant_a_orders');
    expect(() => resolveKey([a, b], 'orders', 'eu')).toThrow(
      /orders is a table of more than one family: tenant_a\.orders \(family tenant_a_orders\), tenant_b\.orders \(family tenant_b_orders\); name it as schema\.table/,
    );
    expect(() => resolveKey([a, b], 'tenant_c.orders', 'eu')).toThrow(
      /tenant_c\.orders is not a table of any declared family.*\(tenant_a\.orders, tenant_b\.orders\)/,
    );
  });
});

describe('status of two families whose tables share a name', () => {
  it('names each DEFAULT with its schema and suggests a drain that reaches that family', async () => {
    await t.sql.unsafe(`
      CREATE SCHEMA tenant_a;
      CREATE SCHEMA tenant_b;
      CREATE TABLE tenant_a.orders (id int NOT NULL, region text NOT NULL) PARTITION BY LIST (region);
      CREATE TABLE tenant_b.orders (id int NOT NULL, region text NOT NULL) PARTITION BY LIST (region);`);
    expect((await apply(t.db, { families: [a, b] })).failed).toBe(0);
    await t.sql.unsafe(`
      INSERT INTO tenant_a.orders SELECT g, 'ap south' FROM generate_series(1, 10) g;
      INSERT INTO tenant_b.orders SELECT g, 'ap south' FROM generate_series(1, 10) g;`);
    const report = status([a, b], await inspect(t.db, [a, b]));
    const lines = report.attention.filter((l) => /holds/.test(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^tenant_a\.orders_default holds .*pgparts drain tenant_a\.orders 'ap south'/,
    );
    expect(lines[1]).toMatch(
      /^tenant_b\.orders_default holds .*pgparts drain tenant_b\.orders 'ap south'/,
    );
    // The suggested words, pasted, name the family they were printed for.
    const words = shellArguments(
      /pgparts drain (tenant_b\.orders 'ap south')/.exec(lines[1] ?? '')?.[1] ?? '',
    );
    expect(resolveKey([a, b], words[0] ?? '', words[1] ?? '')).toMatchObject({
      family: { name: 'tenant_b_orders' },
      key: { kind: 'list', value: 'ap south' },
    });
  });
});

describe('status of a key whose partition name another key has', () => {
  it('suggests no drain (it would be refused) and says why', async () => {
    const shops = parseFamily({
      name: 'shops',
      tables: ['shops'],
      partitionBy: { strategy: 'list', column: 'region', values: ['EU-West'] },
      defaultPartition: true,
    });
    await t.sql.unsafe(
      'CREATE TABLE shops (id int NOT NULL, region text NOT NULL) PARTITION BY LIST (region)',
    );
    expect((await apply(t.db, { families: [shops] })).failed).toBe(0);
    await t.sql.unsafe(`
      INSERT INTO shops SELECT g, 'eu-west' FROM generate_series(1, 10) g;
      INSERT INTO shops SELECT g, 'ap' FROM generate_series(1, 10) g;`);
    const report = status([shops], await inspect(t.db, [shops]));
    const line = report.attention.find((l) => /^shops_default holds/.test(l)) ?? '';
    expect(line).toMatch(
      /eu-west is without a partition name of its own: shops_seu_west is another key's .* so a drain is refused/,
    );
    expect(line).toMatch(/pgparts drain shops ap(?!\w)/);
    expect(line).not.toMatch(/pgparts drain shops eu-west/);
  });
});
