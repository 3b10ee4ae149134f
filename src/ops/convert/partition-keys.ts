import { sql } from 'drizzle-orm';
import { addIntervals, intervalStart } from '../../define/intervals.js';
import type { PartitionKey } from '../../define/partition-key.js';
import { type FamilySpec, listValueType } from '../../define/spec.js';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import { rangeBucketSql, UTC_TIMEZONE_SQL } from '../../sql/range-bucket.js';
import { query } from './run-sql.js';

/**
 * The partitions a converted family needs: one per key present in the legacy data (LIST values,
 * RANGE intervals in UTC), the spec's own LIST values and `valuesFrom` rows, for RANGE the current
 * interval through `premake` ahead (live inserts after the swap need them), and DEFAULT per spec.
 */
export async function partitionKeysFor(
  db: AnyPgDatabase,
  family: FamilySpec,
  legacyTables: readonly string[],
  now: Date = new Date(),
): Promise<PartitionKey[]> {
  const p = family.partitionBy;
  const column = quoteIdent(p.column);
  const keys: PartitionKey[] = [];
  if (p.strategy === 'list') {
    if (listValueType(p) === 'text') {
      throw new PgpartsError(
        'refused',
        `pgparts: family ${family.name}: online conversion supports integer LIST and RANGE families, not text LIST`,
      );
    }
    const values = new Set<number>(p.values.filter((v): v is number => typeof v === 'number'));
    const sources = legacyTables.map(
      (t) => `SELECT ${column}::bigint AS v FROM ${quoteQualified(family.schema, t)}`,
    );
    if (p.valuesFrom) {
      const from = `${p.valuesFrom.schema}.${p.valuesFrom.table}`;
      const exists = await query<{ ok: boolean }>(
        db,
        sql`SELECT to_regclass(${from}) IS NOT NULL AS ok`,
      );
      if (exists[0]?.ok) {
        sources.push(
          `SELECT ${quoteIdent(p.valuesFrom.column)}::bigint AS v FROM ${quoteQualified(p.valuesFrom.schema, p.valuesFrom.table)}`,
        );
      }
    }
    if (sources.length > 0) {
      const rows = await query<{ v: string }>(
        db,
        `SELECT DISTINCT v::text AS v FROM (${sources.join(' UNION ')}) s WHERE v IS NOT NULL`,
      );
      for (const r of rows) values.add(Number(r.v));
    }
    for (const value of [...values].sort((a, b) => a - b)) keys.push({ kind: 'list', value });
  } else {
    const starts = new Set<number>();
    if (legacyTables.length > 0) {
      // Under TimeZone UTC, whatever the session's: a timestamp or date column is cut by its own
      // wall time, a timestamptz by its UTC one, as the planner cuts intervals.
      const rows = await db.transaction(async (tx) => {
        const t = tx as unknown as AnyPgDatabase;
        await query(t, UTC_TIMEZONE_SQL);
        return query<{ s: string }>(
          t,
          `SELECT DISTINCT to_char(${rangeBucketSql(p.interval, 'v')}, 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS s
           FROM (${legacyTables.map((t) => `SELECT ${column} AS v FROM ${quoteQualified(family.schema, t)}`).join(' UNION ')}) x
           WHERE v IS NOT NULL`,
        );
      });
      for (const r of rows) starts.add(new Date(r.s).getTime());
    }
    const current = intervalStart(p.interval, now);
    for (let i = 0; i <= p.premake; i++) starts.add(addIntervals(p.interval, current, i).getTime());
    for (const start of [...starts].sort((a, b) => a - b)) {
      const from = new Date(start);
      keys.push({ kind: 'range', from, to: addIntervals(p.interval, from, 1) });
    }
  }
  if (family.defaultPartition) keys.push({ kind: 'default' });
  return keys;
}
