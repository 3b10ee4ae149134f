import { sql } from 'drizzle-orm';
import { type CatalogReadOptions, catalogReadOptionsSchema } from '../catalog/inspect.js';
import { inspectReadable } from '../catalog/inspect-readable.js';
import { readMaintenanceRuns } from '../catalog/maintenance-runs.js';
import { type FamilySpec, parseFamily } from '../define/spec.js';
import { status } from '../plan/status.js';
import { checkDatabase } from '../run/check-database.js';
import type { AnyPgDatabase } from '../run/database.js';
import { checkOptions } from '../run/options.js';
import { rowsOf } from '../run/rows.js';
import { quoteQualified } from '../sql/identifiers.js';
import { renderExposition } from './exposition.js';
import { buildMetrics } from './metrics.js';

/** Invalid indexes on each family table and its partitions, by `schema.table`. */
async function readInvalidIndexes(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const family of families) {
    for (const table of family.tables) {
      const [row] = rowsOf<{ n: number }>(
        await db.execute(sql`
          SELECT count(*)::int AS n
          FROM pg_partition_tree(to_regclass(${quoteQualified(family.schema, table)})) t
          JOIN pg_index x ON x.indrelid = t.relid
          WHERE NOT x.indisvalid`),
      );
      counts.set(`${family.schema}.${table}`, Number(row?.n ?? 0));
    }
  }
  return counts;
}

/**
 * pgparts's metrics for `families`, in the Prometheus text exposition format: what
 * `pgparts status --format prometheus` prints, for the node exporter's textfile collector or a
 * scrape endpoint. Reads only. `options`: the catalog read's lock_timeout and retries (inspect's);
 * a scrape endpoint that must answer within its scrape timeout can pass `retries: 0`. A family
 * whose tables another session keeps locked past the read's retries is reported by
 * `pgparts_catalog_read_ok` 0 alone; the other families' metrics are there (inspectReadable).
 */
export async function prometheusMetrics(
  db: AnyPgDatabase,
  families: readonly FamilySpec[],
  options: CatalogReadOptions = {},
): Promise<string> {
  checkOptions('prometheusMetrics', catalogReadOptionsSchema, options);
  checkDatabase('prometheusMetrics', db);
  const specs = families.map((f) => parseFamily(f));
  const { snapshot, readable, unreadable } = await inspectReadable(db, specs, options);
  const report = status(readable, snapshot);
  return renderExposition(
    buildMetrics({
      families: readable,
      unreadable,
      snapshot,
      report,
      runs: await readMaintenanceRuns(db, readable),
      invalidIndexes: await readInvalidIndexes(db, readable),
    }),
  );
}
