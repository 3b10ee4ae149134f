import { beforeAll, describe, expect, it } from 'vitest';
import {
  escapeLike,
  MAX_SUGGEST_QUERY_LENGTH,
  type NameKind,
  normaliseSuggestQuery,
  suggestNames,
  suggestNamesQuery,
} from '../../src/domains/killmails/queries/index.js';
import type { AnyPgDatabase } from '../../src/run/database.js';
import { explainQuery, indexesUsed, planNodes, scanTypes } from '../support/explain-plan.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

const TABLES: Record<NameKind, string> = {
  character: 'characters',
  corporation: 'corporations',
  alliance: 'alliances',
  system: 'systems',
};

/** Names with LIKE's wildcards, its escape character and quotes in them. */
const TRICKY = [
  [1, '100% Pure'],
  [2, '100X Pure'],
  [3, 'Under_Score'],
  [4, 'UnderXScore'],
  [5, 'Back\\Slash'],
  [6, "O'Neil Holdings"],
] as const;

beforeAll(async () => {
  const syllable = `(ARRAY['ka','ri','zo','mel','tor','vex','lyn','dra','sol','quin'])`;
  const surname = `(ARRAY['Stone','Vale','Frost','Ash','Wren','Kade','Orr','Pike','Rook','Sable'])`;
  const name = (n: string) =>
    `initcap(${syllable}[1 + ${n} % 10] || ${syllable}[1 + (${n} / 10) % 10]) || ' ' || ${surname}[1 + (${n} / 100) % 10] || ' ' || ${n}`;
  await t.sql.unsafe(
    `INSERT INTO characters (id, name) SELECT 90000000 + n, ${name('n')} FROM generate_series(1, 60000) n`,
  );
  await t.sql.unsafe(
    `INSERT INTO corporations (id, name) SELECT 98000000 + n, ${name('n')} || ' Corp' FROM generate_series(1, 20000) n`,
  );
  await t.sql.unsafe(
    `INSERT INTO alliances (id, name) SELECT 99000000 + n, ${name('n')} || ' Alliance' FROM generate_series(1, 5000) n`,
  );
  await t.sql.unsafe(
    `INSERT INTO systems (id, name) SELECT 30000000 + n, ${name('n')} FROM generate_series(1, 8000) n`,
  );
  await t.sql`INSERT INTO systems (id, name) VALUES (31000142, 'Jita'), (31002187, 'Amarr')`;
  for (const [id, name] of TRICKY)
    await t.sql`INSERT INTO corporations (id, name) VALUES (${id}, ${name})`;
  await t.sql`VACUUM ANALYZE`;
}, 180_000);

/**
 * The expected suggestions, computed here from every row: names starting with the text first,
 * then, for 3 characters or more, names containing it; each group by lower-case name in byte
 * order, then kind, then id.
 */
async function expected(text: string, kinds: NameKind[], limit: number) {
  const [{ needle } = { needle: '' }] = await t.sql<
    { needle: string }[]
  >`SELECT lower(${text}) AS needle`;
  const all: {
    kind: NameKind;
    id: number;
    name: string;
    rank: number;
    sort: string;
  }[] = [];
  for (const kind of kinds) {
    const rows = await t.sql.unsafe<{ id: number; name: string; sort: string }[]>(
      `SELECT id::int, name, lower(name) AS sort FROM ${TABLES[kind]}`,
    );
    for (const r of rows) {
      if (r.sort.startsWith(needle)) all.push({ kind, ...r, rank: 0 });
      else if (needle.length >= 3 && r.sort.includes(needle)) all.push({ kind, ...r, rank: 1 });
    }
  }
  all.sort(
    (a, b) =>
      a.rank - b.rank ||
      Buffer.compare(Buffer.from(a.sort), Buffer.from(b.sort)) ||
      (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) ||
      a.id - b.id,
  );
  return all.slice(0, limit).map(({ kind, id, name }) => ({ kind, id, name }));
}

describe('suggestNames', () => {
  it('ranks prefix matches first, then names containing the text, across the four tables', async () => {
    const kinds: NameKind[] = ['character', 'corporation', 'alliance', 'system'];
    for (const text of ['Rimel', 'kari', 'Frost 12', 'Ji', 'torz', 'k', 'ost', 'zo', 'vale 3']) {
      const rows = await suggestNames(t.db, { query: text, limit: 10 });
      expect(rows, text).toEqual(await expected(text, kinds, 10));
    }
    const [first] = await suggestNames(t.db, { query: 'jita' });
    expect(first).toEqual({ kind: 'system', id: 31000142, name: 'Jita' });
  });

  it('treats %, _ and backslash as themselves, and quotes as text', async () => {
    const names = async (query: string) =>
      (await suggestNames(t.db, { query, kinds: ['corporation'] })).map((r) => r.name);
    expect(await names('100%')).toEqual(['100% Pure']);
    expect(await names('Under_')).toEqual(['Under_Score']);
    expect(await names('k\\s')).toEqual(['Back\\Slash']);
    expect(await names("O'Neil")).toEqual(["O'Neil Holdings"]);
    expect(await names('0%')).toEqual([]); // under 3 characters: prefixes only
    expect(await names('%')).toEqual([]);
    expect(await names('_')).toEqual([]);
    expect(await names('0% P')).toEqual(['100% Pure']);
    expect(await names('r_s')).toEqual(['Under_Score']);
    expect(await names("'; DROP TABLE corporations; --")).toEqual([]);
    expect(await t.sql`SELECT count(*)::int AS n FROM corporations`).toEqual([{ n: 20006 }]);
  });

  it('returns [] for empty or blank input without querying', async () => {
    const refuse = new Proxy({} as AnyPgDatabase, {
      get() {
        throw new Error('the database was used');
      },
    });
    expect(await suggestNames(refuse, { query: '' })).toEqual([]);
    expect(await suggestNames(refuse, { query: '  \t\n ' })).toEqual([]);
    expect(await suggestNames(refuse, { query: '\u0000' })).toEqual([]);
  });

  it('caps very long input, and drops control characters PostgreSQL would refuse', async () => {
    expect(normaliseSuggestQuery('x'.repeat(100_000))).toHaveLength(MAX_SUGGEST_QUERY_LENGTH);
    expect(await suggestNames(t.db, { query: `Kari${'z'.repeat(100_000)}` })).toEqual([]);
    expect(await suggestNames(t.db, { query: 'Ji\u0000ta' })).toEqual([]);
    const [jita] = await suggestNames(t.db, { query: '\u0000Jita\n' });
    expect(jita?.name).toBe('Jita');
    expect(escapeLike('a%b_c\\d')).toBe('a\\%b\\_c\\\\d');
  });

  it('refuses bad input', async () => {
    expectPgpartsError(
      await rejection(suggestNames(t.db, { query: 'a', limit: 51 })),
      'invalid-input',
      { message: /limit/ },
    );
    expectPgpartsError(
      await rejection(suggestNames(t.db, { query: 'a', kinds: ['ship' as never] })),
      'invalid-input',
      { message: /kinds/ },
    );
    expectPgpartsError(
      await rejection(suggestNames(t.db, { query: 5 as never })),
      'invalid-input',
      { message: /query/ },
    );
  });

  it('reads prefixes as an index range, index-only, in every table', async () => {
    const query = suggestNamesQuery(t.db, { query: 'Ka' });
    if (!query) throw new Error('expected a query');
    const plan = await explainQuery(t.db, query, { analyze: true });
    for (const table of Object.values(TABLES)) {
      expect(indexesUsed(plan, table), table).toEqual([`idx_${table}_name_prefix`]);
      expect(scanTypes(plan, table), table).toEqual(['Index Only Scan']);
    }
    for (const node of planNodes(plan.plan).filter((n) => n['Node Type'] === 'Index Only Scan')) {
      expect(String(node['Index Cond'])).toMatch(/lower\(name\)/);
      expect(node['Actual Rows']).toBeLessThanOrEqual(10);
    }
  });

  it('walks the btree in order for a common fragment, and asks GIN for a rare one', async () => {
    // 'ost' (Frost): in a tenth of the names; 'rost 12': in a few dozen.
    const scans = async (text: string) => {
      const query = suggestNamesQuery(t.db, { query: text, kinds: ['character'] });
      if (!query) throw new Error('expected a query');
      const plan = await explainQuery(t.db, query, { analyze: true });
      expect(scanTypes(plan, 'characters'), text).not.toContain('Seq Scan');
      return planNodes(plan.plan).filter((n) => n['Relation Name'] === 'characters');
    };
    const common = await scans('ost');
    expect(common.map((n) => n['Node Type'])).toEqual(['Index Only Scan', 'Index Only Scan']);
    const walk = common.find((n) => String(n.Filter ?? '').includes('~~*'));
    // Stopped at the limit: about ten matches' worth of names read, not the 60,000.
    expect(Number(walk?.['Actual Rows'])).toBe(10);
    expect(Number(walk?.['Rows Removed by Filter'])).toBeLessThan(1000);
    const rare = await scans('rost 12');
    const gin = planNodes({ 'Node Type': 'root', Plans: rare }).find(
      (n) => n['Index Name'] === 'idx_characters_name_trgm',
    );
    expect(gin?.['Node Type']).toBe('Bitmap Index Scan');
  });
});
