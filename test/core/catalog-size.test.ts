import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { killmailFamily, leaderboardFamily } from '../../src/domains/presets.js';
import { maintain } from '../../src/run/maintain.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [leaderboardFamily, killmailFamily];

/**
 * Catalogs that grow with every table, key and trigger of the database: a read of pgparts's
 * must find its rows in them by an index, never by reading them whole. (pg_namespace, pg_am,
 * pg_inherits and the like stay small or grow with partitioning only, and the planner may scan
 * them.)
 */
const GROWING_CATALOGS = [
  'pg_class',
  'pg_attribute',
  'pg_constraint',
  'pg_trigger',
  'pg_depend',
  'pg_index',
  'pg_description',
];

/** pgparts's queries (postgres.js reads pg_type when it connects: not pgparts's). */
function isQuery(statement: string): boolean {
  return /^\s*(SELECT|WITH)\b/.test(statement) && !statement.includes('pg_catalog.pg_type');
}

/**
 * A query that only reads: EXPLAIN ANALYZE may run it again, on a connection of its own. Others
 * (they take a lock, change a setting, write a record) are only planned.
 */
function onlyReads(statement: string): boolean {
  return isQuery(statement) && !/pg_(try_)?advisory_|set_config\(|\bINSERT\b/.test(statement);
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

interface ReadMeasure {
  /** Buffers its execution touched (the top node counts its sub-plans'; planning left out). */
  buffers: number;
  /** Catalogs of GROWING_CATALOGS that its plan reads whole. */
  scanned: string[];
}

function seqScans(node: PlanNode): string[] {
  const own =
    node['Node Type'] === 'Seq Scan' && node['Relation Name'] ? [node['Relation Name']] : [];
  return [...own, ...(node.Plans ?? []).flatMap(seqScans)];
}

/** What `run` sends on a connection of its own, as postgres.js builds it (values written in too). */
async function sentBy(run: (db: ReturnType<typeof drizzle>) => Promise<void>) {
  const sent: [string, unknown[]][] = [];
  const client = t.connect({
    max: 1,
    debug: (_connection, query, params) => {
      sent.push([query, params]);
    },
  });
  try {
    await run(drizzle(client));
  } finally {
    await client.end();
  }
  return sent;
}

/**
 * What a no-op maintain() reads: each read it sends, run again under EXPLAIN (ANALYZE, BUFFERS)
 * with its parameters. Keyed by position and text, so that two runs compare the same reads.
 */
async function readsOfANoOp(): Promise<Map<string, ReadMeasure>> {
  const sent = await sentBy(async (db) => {
    const result = await maintain(db, { families });
    expect(result.ok).toBe(true);
    expect(result.plan?.steps).toEqual([]);
  });
  const explain = t.connect({ max: 1 });
  const reads = new Map<string, ReadMeasure>();
  try {
    for (const [index, [statement, params]] of sent.entries()) {
      if (!onlyReads(statement)) continue;
      const [row] = await explain.unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement}`,
        params as never[],
      );
      const top = row?.['QUERY PLAN'][0].Plan;
      if (!top) throw new Error(`no plan for ${statement}`);
      reads.set(`${index}: ${statement.replace(/\s+/g, ' ').trim().slice(0, 90)}`, {
        buffers: (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0),
        scanned: [...new Set(seqScans(top).filter((r) => GROWING_CATALOGS.includes(r)))],
      });
    }
  } finally {
    await explain.end();
  }
  return reads;
}

const total = (reads: Map<string, ReadMeasure>) =>
  [...reads.values()].reduce((sum, r) => sum + r.buffers, 0);

describe('catalog reads do not grow with the rest of the database', () => {
  it('a no-op maintain finds its rows by index beside 1,500 unrelated tables', async () => {
    // The families' partitions exist and their bookkeeping is in place: the runs after this one
    // are no-ops, each sending the same reads (the catalog, the bookkeeping, DEFAULT's look).
    expect((await maintain(t.db, { families })).ok).toBe(true);
    await maintain(t.db, { families });
    const before = await readsOfANoOp();
    expect(before.size).toBe(3);

    // An app's other tables: each with a primary key, a foreign key and its triggers, so that
    // pg_class, pg_constraint, pg_trigger and pg_depend all grow.
    await t.sql.unsafe('CREATE SCHEMA crowd; CREATE TABLE crowd.hub (id int PRIMARY KEY)');
    for (let i = 0; i < 1_500; i += 250) {
      const tables = Array.from(
        { length: 250 },
        (_, j) =>
          `CREATE TABLE crowd.t${i + j} (id int PRIMARY KEY, hub int REFERENCES crowd.hub (id))`,
      );
      await t.sql.unsafe(tables.join(';\n'));
    }
    await t.sql.unsafe('ANALYZE pg_class, pg_constraint, pg_trigger, pg_depend, pg_index');
    const after = await readsOfANoOp();

    expect([...after.keys()]).toEqual([...before.keys()]);
    const scans = [...after].filter(([, r]) => r.scanned.length > 0);
    expect(scans.map(([statement, r]) => ({ statement, scanned: r.scanned }))).toEqual([]);
    // Reading pg_class and pg_constraint whole for each of the families' parents took five
    // times the buffers here; by index, what grows is a level of an index's tree, and plans the
    // planner changes with the catalogs' sizes.
    expect(total(after)).toBeLessThan(total(before) * 1.25);

    // A run that creates partitions and retires old ones (two months on): every query it sent,
    // planned again now, finds its catalog rows by index too. A query of a partition it dropped
    // since cannot be planned again, and is left out.
    const monthsOn = addIntervals('month', intervalStart('month', new Date()), 2);
    const sent = await sentBy(async (db) => {
      const result = await maintain(db, {
        families: [killmailFamily],
        now: monthsOn,
        allowDestructive: true,
      });
      expect(result.ok).toBe(true);
      // Two months in, for each of the three tables; two months out.
      const kinds = result.results.map((r) => r.step.kind);
      expect(kinds.filter((k) => k === 'create')).toHaveLength(6);
      expect(kinds.filter((k) => k === 'retire')).toHaveLength(2);
    });
    const explain = t.connect({ max: 1 });
    const planned: { statement: string; scanned: string[] }[] = [];
    try {
      for (const [statement, params] of sent) {
        if (!isQuery(statement)) continue;
        const plan = await explain
          .unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode }] }[]>(
            `EXPLAIN (FORMAT JSON) ${statement}`,
            params as never[],
          )
          .catch(() => null);
        const top = plan?.[0]?.['QUERY PLAN'][0].Plan;
        if (!top) continue;
        const scanned = [...new Set(seqScans(top).filter((r) => GROWING_CATALOGS.includes(r)))];
        planned.push({ statement: statement.replace(/\s+/g, ' ').trim().slice(0, 120), scanned });
      }
    } finally {
      await explain.end();
    }
    expect(planned.length).toBeGreaterThan(10);
    expect(planned.filter((p) => p.scanned.length > 0)).toEqual([]);
  }, 120_000);
});
