import { beforeAll, describe, expect, it } from 'vitest';
import type { AnyPgDatabase } from '../../src/core/database.js';
import {
  escapeLike,
  MAX_SUGGEST_QUERY_LENGTH,
  type NameKind,
  normaliseSuggestQuery,
  SUGGEST_WALK,
  suggestNames,
  suggestNamesQuery,
  suggestNamesRemainderQuery,
} from '../../src/killmails/queries/index.js';
import { explainQuery, indexesUsed, planNodes, scanTypes } from '../support/explain-plan.js';
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
    await expect(suggestNames(t.db, { query: 'a', limit: 51 })).rejects.toThrow(/limit/);
    await expect(suggestNames(t.db, { query: 'a', kinds: ['ship' as never] })).rejects.toThrow(
      /kinds/,
    );
    await expect(suggestNames(t.db, { query: 5 as never })).rejects.toThrow(/query/);
  });

  it('answers a common fragment from the walk, a rare one from the GIN remainder', async () => {
    const firstRound = async (query: string) => {
      const q = suggestNamesQuery(t.db, { query, kinds: ['character'] });
      if (!q) throw new Error('expected a query');
      return (await q).filter((r) => r.rank === 1).length;
    };
    expect(await firstRound('ost')).toBe(10); // a tenth of the names: found within the walk
    expect(await firstRound('rost 12')).toBeLessThan(10); // rare: the remainder finds the rest
    for (const query of ['ost', 'rost 12', 'Stone 599']) {
      expect(await suggestNames(t.db, { query, kinds: ['character'] }), query).toEqual(
        await expected(query, ['character'], 10),
      );
    }
  });

  it('reads the first round from the prefix index only, in order, index-only, bounded', async () => {
    for (const text of ['Ka', 'Frost 12', 'ost']) {
      const query = suggestNamesQuery(t.db, { query: text });
      if (!query) throw new Error('expected a query');
      const plan = await explainQuery(t.db, query, { analyze: true });
      for (const table of Object.values(TABLES)) {
        expect(indexesUsed(plan, table), `${text} on ${table}`).toEqual([
          `idx_${table}_name_prefix`,
        ]);
        expect(scanTypes(plan, table), `${text} on ${table}`).toEqual(['Index Only Scan']);
      }
      for (const node of planNodes(plan.plan).filter((n) => n['Node Type'] === 'Index Only Scan'))
        expect(node['Actual Rows'], text).toBeLessThanOrEqual(SUGGEST_WALK);
    }
  });

  it('reads the remainder through the GIN trigram index', async () => {
    const query = suggestNamesRemainderQuery(t.db, { query: 'rost 12' }, [
      { kind: 'character', sortName: 'kari', id: 0 },
      { kind: 'system', sortName: 'kari', id: 0 },
    ]);
    if (!query) throw new Error('expected a query');
    const plan = await explainQuery(t.db, query);
    for (const table of ['characters', 'systems']) {
      expect(indexesUsed(plan, table), table).toEqual([`idx_${table}_name_trgm`]);
      expect(scanTypes(plan, table), table).not.toContain('Seq Scan');
    }
  });

  it('keeps both rounds on their indexes under a generic plan (prepared, parameters unknown)', async () => {
    const client = t.connect({ max: 1 });
    await client`SET plan_cache_mode = force_generic_plan`;
    const explainPrepared = async (name: string, query: { sql: string; params: unknown[] }) => {
      await client.unsafe(`PREPARE ${name} AS ${query.sql}`);
      const params = query.params.map((p) =>
        typeof p === 'number' ? String(p) : `'${String(p).replaceAll("'", "''")}'`,
      );
      const [row] = await client.unsafe(
        `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, FORMAT JSON) EXECUTE ${name}(${params.join(', ')})`,
      );
      return JSON.stringify(row);
    };
    const first = suggestNamesQuery(t.db, { query: 'zzq' })?.toSQL();
    if (!first) throw new Error('expected a query');
    const text = await explainPrepared('suggest_first', first);
    expect(text).not.toContain('Seq Scan');
    expect(text).not.toContain('Bitmap');
    for (const table of Object.values(TABLES))
      expect(text).toContain(`"Index Name":"idx_${table}_name_prefix"`);
    const remainder = suggestNamesRemainderQuery(t.db, { query: 'zzq' }, [
      { kind: 'character', sortName: 'a', id: 0 },
    ])?.toSQL();
    if (!remainder) throw new Error('expected a query');
    const rest = await explainPrepared('suggest_rest', remainder);
    expect(rest).not.toContain('Seq Scan');
    expect(rest).toContain('"Index Name":"idx_characters_name_trgm"');
    await client.end();
  });
});
