import { sql } from 'drizzle-orm';
import { compareKeys, keyId } from '../define/bounds.js';
import { addIntervals } from '../define/intervals.js';
import type { PartitionKey } from '../define/partition-key.js';
import { type FamilySpec, listValueType } from '../define/spec.js';
import type { AnyPgDatabase } from '../run/database.js';
import { jsonValue, rowsOf } from '../run/rows.js';
import { quoteIdent, quoteQualified } from '../sql/identifiers.js';
import { keyPredicateSql } from '../sql/key-predicate.js';
import { textLiteral } from '../sql/literals.js';
import { rangeBucketSql } from '../sql/range-bucket.js';
import { readBatch } from './batch.js';
import type { DefaultRows, ExactDefaultRows } from './snapshot.js';

/**
 * What a DEFAULT partition holds, without reading all of it. Maintenance runs on every call:
 * its cost must not grow with DEFAULT's rows. So: one EXISTS (does it hold anything?), then,
 * only when it does, an EXISTS per key the planner may create (an index range scan where an
 * index leads with the key column) and a bounded search for the keys it holds: with such an
 * index a skip scan (one index lookup per key found), without one a single scan of DEFAULT
 * (what the probes would cost at least, once instead of once per key). Reads run with TimeZone
 * UTC set by the caller, so intervals are cut in UTC, like the planner's.
 */

/** How many keys the search lists at most; more are reported as "and others". */
export const DEFAULT_KEYS_LIMIT = 100;

/** The text of a key's bucket, as the search returns it: `14`, `2026-06-01T00:00:00Z`. */
function bucketSql(family: FamilySpec, column: string): string {
  const p = family.partitionBy;
  return p.strategy === 'list'
    ? `${column}::text`
    : `to_char(${rangeBucketSql(p.interval, column)}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
}

function keyFromBucket(family: FamilySpec, text: string | null): PartitionKey | undefined {
  const p = family.partitionBy;
  if (text === null) return undefined;
  if (p.strategy === 'list') {
    if (listValueType(p) === 'text') return { kind: 'list', value: text };
    if (!/^-?\d+$/.test(text)) return undefined;
    const value = Number(text);
    return Number.isSafeInteger(value) ? { kind: 'list', value } : undefined;
  }
  const from = new Date(text);
  if (Number.isNaN(from.getTime())) return undefined;
  return { kind: 'range', from, to: addIntervals(p.interval, from, 1) };
}

/**
 * The keys DEFAULT holds, ascending, one index lookup each: from the smallest key value, the
 * next one at or past the end of the current bucket. PostgreSQL evaluates a recursive query
 * only as far as the outer LIMIT reads it.
 */
function skipScanSql(family: FamilySpec, table: string, column: string, limit: number): string {
  const p = family.partitionBy;
  const next =
    p.strategy === 'list'
      ? `${column} > found.at`
      : `${column} >= ${rangeBucketSql(p.interval, 'found.at')} + interval ${textLiteral(`1 ${p.interval}`)}`;
  return (
    `WITH RECURSIVE found(at) AS (` +
    `(SELECT ${column} FROM ${table} WHERE ${column} IS NOT NULL ORDER BY ${column} LIMIT 1) ` +
    `UNION ALL SELECT (SELECT ${column} FROM ${table} WHERE ${next} ORDER BY ${column} LIMIT 1) ` +
    `FROM found WHERE found.at IS NOT NULL) ` +
    `SELECT ${bucketSql(family, 'at')} FROM found WHERE at IS NOT NULL LIMIT ${limit}`
  );
}

/** The keys DEFAULT holds, in one scan of it (no index to skip through). */
function distinctSql(family: FamilySpec, table: string, column: string, limit: number): string {
  return `SELECT DISTINCT ${bucketSql(family, column)} FROM ${table} WHERE ${column} IS NOT NULL LIMIT ${limit}`;
}

/**
 * The statements `readDefaultRows` runs for one DEFAULT partition, in order; the later ones only
 * when the earlier answers ask for them. Exported for the tests, which EXPLAIN them.
 */
export function defaultRowsSql(
  family: FamilySpec,
  partition: { schema: string; name: string },
  keys: readonly PartitionKey[],
  limit = DEFAULT_KEYS_LIMIT,
): {
  firstLook(indexed: boolean, withSearch?: boolean): string;
  probes: string;
  skipScan: string;
  distinct: string;
} {
  const table = quoteQualified(partition.schema, partition.name);
  const column = quoteIdent(family.partitionBy.column);
  const probes = keys.map(
    (key, i) => `EXISTS (SELECT 1 FROM ${table} WHERE ${keyPredicateSql(family, key)}) AS p${i}`,
  );
  const probesSql = `SELECT ${probes.length > 0 ? probes.join(', ') : 'true AS none'}`;
  const skipScan = skipScanSql(family, table, column, limit + 1);
  const occupied = `SELECT EXISTS (SELECT 1 FROM ${table}) AS occupied`;
  /**
   * Does DEFAULT hold anything; and where a valid, unconditional btree index leads with the key
   * column (`indexed`: inspect reads which DEFAULTs have one with the catalog), the search and
   * the probes too, which are index lookups then: read in the same statement, their subqueries
   * run only when their CASE asks for them (PostgreSQL evaluates an uncorrelated subquery on
   * first use). Without such an index they are left out: a subquery is planned even where its
   * CASE never runs it. `withSearch` false leaves them out where there is an index too: for a
   * DEFAULT the last read found empty (empty-defaults.ts), whose look is then planned for the
   * EXISTS alone; should it hold rows, readDefaultRows reads the rest.
   */
  const firstLook = (indexed: boolean, withSearch = true) =>
    indexed && withSearch
      ? 'SELECT o.occupied, true AS indexed, ' +
        `CASE WHEN o.occupied THEN (SELECT coalesce(json_agg(s.k), '[]'::json) FROM (${skipScan}) s(k)) END AS found, ` +
        `CASE WHEN o.occupied THEN (SELECT row_to_json(a) FROM (${probesSql}) a) END AS answers ` +
        `FROM (${occupied} OFFSET 0) o`
      : `${occupied}, ${indexed} AS indexed`;
  return {
    firstLook,
    probes: probesSql,
    skipScan,
    distinct: distinctSql(family, table, column, limit + 1),
  };
}

/** What defaultRowsSql's `firstLook` answered: inspect reads it for every DEFAULT at once. */
export interface DefaultOccupancy {
  occupied: boolean;
  indexed: boolean;
  /**
   * What `firstLook` read besides, when DEFAULT holds rows and has an index: the search's keys
   * (as text) and the probes' answers, for the keys it was built with (`probed`).
   */
  look?: { found: unknown[]; answers: Record<string, unknown>; probed: readonly PartitionKey[] };
}

/** A row of defaultRowsSql's `firstLook`, as read in a batch, for readDefaultRows. */
export function occupancyFromLook(
  row: Record<string, unknown>,
  probed: readonly PartitionKey[],
): DefaultOccupancy {
  const occupancy: DefaultOccupancy = {
    occupied: row.occupied === true,
    indexed: row.indexed === true,
  };
  const found = jsonValue<unknown>(row.found);
  const answers = jsonValue<Record<string, unknown> | null>(row.answers);
  if (Array.isArray(found) && answers && typeof answers === 'object') {
    occupancy.look = { found, answers, probed };
  }
  return occupancy;
}

/**
 * What one DEFAULT partition holds (see the top of this file), from `first`, its first look
 * (read by the caller, inspect, with the catalog's second batch), and what that left unread.
 */
export async function readDefaultRows(
  db: AnyPgDatabase,
  family: FamilySpec,
  partition: { schema: string; name: string },
  keys: readonly PartitionKey[],
  first: DefaultOccupancy,
  options: { exact?: boolean } = {},
): Promise<DefaultRows> {
  const statements = defaultRowsSql(family, partition, keys);
  const exact = options.exact ? await readExactDefaultRows(db, family, partition) : null;
  if (!first.occupied) {
    return {
      hasRows: false,
      probes: keys.map((key) => ({ key, hasRows: false })),
      found: [],
      foundAll: true,
      exact,
    };
  }
  const look = first.look;
  const probedAt = new Map((look?.probed ?? []).map((key, i) => [keyId(key), i]));
  if (look && keys.every((key) => probedAt.has(keyId(key)))) {
    // Read with the occupancy already: no round trip of their own.
    const probes = keys.map((key) => ({
      key,
      hasRows: look.answers[`p${probedAt.get(keyId(key))}`] === true,
    }));
    return { hasRows: true, probes, ...keysFound(family, look.found), exact };
  }
  const search = sql.raw(
    `SELECT k FROM (${first.indexed ? statements.skipScan : statements.distinct}) s(k)`,
  );
  // With an index the probes are needed whatever the search finds: both in one round trip.
  const [searchRows = [], probeRows] = first.indexed
    ? await readBatch(db, [search, sql.raw(statements.probes)])
    : [rowsOf<Record<string, unknown>>(await db.execute(search))];
  const { found, foundAll } = keysFound(
    family,
    searchRows.map((row) => row.k),
  );
  let probes: DefaultRows['probes'];
  if (!first.indexed && foundAll) {
    // The scan listed every key: it answers every probe.
    const ids = new Set(found.map(keyId));
    probes = keys.map((key) => ({ key, hasRows: ids.has(keyId(key)) }));
  } else {
    const [answers] =
      probeRows ?? rowsOf<Record<string, boolean>>(await db.execute(sql.raw(statements.probes)));
    probes = keys.map((key, i) => ({ key, hasRows: answers?.[`p${i}`] === true }));
  }
  return { hasRows: true, probes, found, foundAll, exact };
}

/**
 * The keys a search for DEFAULT's keys found (bucket texts, as it returns them): at most
 * DEFAULT_KEYS_LIMIT of them, ascending, and whether that is all (the search reads one more).
 */
function keysFound(
  family: FamilySpec,
  buckets: readonly unknown[],
): Pick<DefaultRows, 'found' | 'foundAll'> {
  const found = buckets
    .slice(0, DEFAULT_KEYS_LIMIT)
    .flatMap((k) => keyFromBucket(family, k === null ? null : String(k)) ?? [])
    .sort(compareKeys);
  return { found, foundAll: buckets.length <= DEFAULT_KEYS_LIMIT };
}

/** Exact row counts of a DEFAULT partition, grouped by LIST value or by the spec's interval. */
export async function readExactDefaultRows(
  db: AnyPgDatabase,
  family: FamilySpec,
  partition: { schema: string; name: string },
): Promise<ExactDefaultRows> {
  const bucket = bucketSql(family, quoteIdent(family.partitionBy.column));
  const rows = rowsOf<{ k: string | null; n: number | string }>(
    await db.execute(
      sql.raw(
        `SELECT ${bucket} AS k, count(*)::float8 AS n FROM ${quoteQualified(partition.schema, partition.name)} GROUP BY 1`,
      ),
    ),
  );
  const result: ExactDefaultRows = { total: 0, byKey: [], other: 0 };
  for (const row of rows) {
    const n = Number(row.n);
    result.total += n;
    const key = keyFromBucket(family, row.k);
    if (key) result.byKey.push({ key, rows: n });
    else result.other += n;
  }
  result.byKey.sort((a, b) => compareKeys(a.key, b.key));
  return result;
}
