import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';

/**
 * SEAM (issue 11): the online index build (`CREATE INDEX ON ONLY` the parent, `CONCURRENTLY` on
 * each partition, `ATTACH PARTITION`) is written as src/ops/online-index.ts on another branch.
 * Until it is on main, a `-- pgparts:create-index-online` step fails here, before anything ran
 * for it; once it lands, this file becomes `export { buildIndexOnline } from '../ops/online-index.js'`.
 */
export async function buildIndexOnline(_db: AnyPgDatabase, spec: unknown): Promise<void> {
  throw new PgpartsError(
    'migration',
    `pgparts: online index builds are not available in this version (step ${JSON.stringify(spec)})`,
  );
}
