import { sql as drizzleSql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import type postgres from 'postgres';
import {
  parseStatisticsTargets,
  statisticsTargetsJson,
} from '../src/catalog/statistics-targets.js';
import { TOP_KEYS_VIEWS, topKeysViewSql } from '../src/domains/leaderboard/views.js';
import { quoteIdent, quoteQualified } from '../src/sql/identifiers.js';
import { type StatisticsTarget, statisticsTargetsSql } from '../src/sql/statistics-targets.js';
import { progressBar } from './progress.js';

export const TWIN_SCHEMA = 'bench_twin';

/** The partitioned tables, referenced ones first. */
export const PARTITIONED_TABLES = [
  'leaderboard_run',
  'run_group_member',
  'killmails_raw',
  'killmails_enriched',
  'killmail_participants',
];

/**
 * The unpartitioned twin: in schema bench_twin, each partitioned parent as a plain table
 * (CREATE TABLE ... LIKE the parent: same columns, defaults, NOT NULLs), filled with the same
 * rows, then the parent's own indexes (pg_get_indexdef, retargeted), its primary and unique keys
 * on those indexes, its foreign keys (pg_get_constraintdef, resolved under search_path
 * bench_twin, public so in-family references point at the twin), and the top_keys views over the
 * twin. A session with search_path bench_twin, public then runs the very same SQL on it.
 */
export async function buildTwin(sql: postgres.Sql): Promise<void> {
  const twin = quoteIdent(TWIN_SCHEMA);
  await sql.unsafe(`DROP SCHEMA IF EXISTS ${twin} CASCADE`);
  await sql.unsafe(`CREATE SCHEMA ${twin}`);
  await sql.unsafe('SET search_path = public');
  const bar = progressBar('unpartitioned twin', PARTITIONED_TABLES.length * 2 + 1);
  let done = 0;
  const ddl: string[] = [];
  for (const table of PARTITIONED_TABLES) {
    const target = quoteQualified(TWIN_SCHEMA, table);
    await sql.unsafe(
      `CREATE TABLE ${target} (LIKE ${quoteQualified('public', table)} INCLUDING DEFAULTS INCLUDING STORAGE)`,
    );
    await sql.unsafe(`INSERT INTO ${target} SELECT * FROM ${quoteQualified('public', table)}`);
    bar.tick(++done);
    await createTwinIndexes(sql, table);
    await syncTwinStatistics(sql, table);
    const fks = await sql<{ name: string; def: string }[]>`
      SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE conrelid = ${`public.${table}`}::regclass AND contype = 'f' AND conparentid = 0
      ORDER BY conname`;
    for (const fk of fks) {
      ddl.push(`ALTER TABLE ${target} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.def}`);
    }
    bar.tick(++done);
  }
  await sql.unsafe(`SET search_path = ${twin}, public`);
  for (const statement of ddl) await sql.unsafe(statement);
  for (const view of TOP_KEYS_VIEWS) {
    for (const statement of topKeysViewSql(view)) await sql.unsafe(statement);
  }
  await sql.unsafe('SET search_path = public');
  bar.done();
}

/** Row counts of both sides, table by table: the twin must hold exactly the same rows. */
export async function compareCounts(sql: postgres.Sql): Promise<Record<string, [number, number]>> {
  const counts: Record<string, [number, number]> = {};
  for (const table of PARTITIONED_TABLES) {
    const [row] = await sql.unsafe<{ a: string; b: string }[]>(
      `SELECT (SELECT count(*) FROM ${quoteQualified('public', table)}) AS a,
              (SELECT count(*) FROM ${quoteQualified(TWIN_SCHEMA, table)}) AS b`,
    );
    counts[table] = [Number(row?.a), Number(row?.b)];
  }
  return counts;
}

interface ParentIndex {
  name: string;
  def: string;
  contype: string | null;
}

const ON_TABLE = / ON (ONLY )?\S+ USING /;

function withoutTable(def: string): string {
  return def.replace(ON_TABLE, ' ON _ USING ');
}

/** The parent's own indexes, each definition retargeted at the twin table. */
async function parentIndexes(sql: postgres.Sql, table: string): Promise<ParentIndex[]> {
  const target = quoteQualified(TWIN_SCHEMA, table);
  const indexes = await sql<ParentIndex[]>`
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, k.contype::text AS contype
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid
    WHERE i.indrelid = ${`public.${table}`}::regclass ORDER BY c.relname`;
  return indexes.map((index) => ({
    ...index,
    def: index.def.replace(ON_TABLE, ` ON ${target} USING `),
  }));
}

async function createTwinIndexes(sql: postgres.Sql, table: string): Promise<void> {
  const target = quoteQualified(TWIN_SCHEMA, table);
  for (const index of await parentIndexes(sql, table)) {
    await sql.unsafe(index.def);
    if (index.contype === 'p' || index.contype === 'u') {
      const kind = index.contype === 'p' ? 'PRIMARY KEY' : 'UNIQUE';
      await sql.unsafe(
        `ALTER TABLE ${target} ADD CONSTRAINT ${quoteIdent(index.name)} ${kind} USING INDEX ${quoteIdent(index.name)}`,
      );
    }
  }
}

/** A table's columns that set a statistics target. */
async function statisticsTargets(
  sql: postgres.Sql,
  schema: string,
  table: string,
): Promise<StatisticsTarget[]> {
  const json = statisticsTargetsJson(drizzleSql`${quoteQualified(schema, table)}::regclass`);
  const [row] = await drizzle(sql).execute<{ targets: unknown }>(
    drizzleSql`SELECT ${json} AS targets`,
  );
  return parseStatisticsTargets(row?.targets);
}

/**
 * The twin's columns given the statistics targets its parent sets (a migration's SET STATISTICS
 * on a parent), so both sides' planners work from samples of the same size. Returns what changed.
 */
async function syncTwinStatistics(sql: postgres.Sql, table: string): Promise<string[]> {
  const twin = await statisticsTargets(sql, TWIN_SCHEMA, table);
  const missing = (await statisticsTargets(sql, 'public', table)).filter(
    (p) => !twin.some((t) => t.column === p.column && t.target === p.target),
  );
  for (const statement of statisticsTargetsSql(quoteQualified(TWIN_SCHEMA, table), missing)) {
    await sql.unsafe(statement);
  }
  return missing.map((m) => `statistics ${m.target} on ${table}.${m.column}`);
}

/**
 * For a kept data set after a migration changed indexes or statistics targets: the twin's
 * secondary indexes and statistics targets made equal to its parents' again (missing indexes
 * built, changed or removed ones dropped), so both sides keep the same indexes and samples.
 * Keys are not touched (a key change needs a fresh data set).
 */
export async function syncTwin(sql: postgres.Sql): Promise<string[]> {
  const changed: string[] = [];
  for (const table of PARTITIONED_TABLES) {
    changed.push(...(await syncTwinStatistics(sql, table)));
    const wanted = (await parentIndexes(sql, table)).filter((i) => i.contype === null);
    const present = await sql<{ name: string; def: string }[]>`
      SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = ${`${TWIN_SCHEMA}.${table}`}::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`;
    // Compared without the table name, which one side prints quoted and the other not.
    const same = (a: { name: string; def: string }, b: { name: string; def: string }) =>
      a.name === b.name && withoutTable(a.def) === withoutTable(b.def);
    for (const index of present) {
      if (wanted.some((w) => same(w, index))) continue;
      await sql.unsafe(`DROP INDEX ${quoteQualified(TWIN_SCHEMA, index.name)}`);
      changed.push(`dropped ${index.name}`);
    }
    for (const index of wanted) {
      if (present.some((p) => same(p, index))) continue;
      await sql.unsafe(index.def);
      changed.push(`built ${index.name}`);
    }
  }
  return changed;
}
