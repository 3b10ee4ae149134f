/** pgparts: the domain-free engine. Domains: `pgparts/leaderboard`, `pgparts/killmails`. */
export type { AnyPgDatabase } from './core/database.js';
export {
  boundSpecSql,
  createPartitionSql,
  familyMigrationSql,
  partitionByClause,
} from './core/ddl.js';
export { identifierSchema, quoteIdent, quoteQualified } from './core/identifiers.js';
export {
  addIntervals,
  INTERVALS,
  type Interval,
  intervalContaining,
  intervalStart,
  intervalSuffix,
} from './core/intervals.js';
export { isManagedComment, MANAGED_MARKER } from './core/marker.js';
export { keyLabel, type PartitionKey, partitionName } from './core/partition-key.js';
export { assertSupportedServer, MIN_SERVER_VERSION_NUM } from './core/server-version.js';
export {
  type FamilySpec,
  type FamilySpecInput,
  familySchema,
  parseFamily,
  partitionFamily,
} from './core/spec.js';
export { builtInFamilies } from './families.js';
export { MIGRATIONS_FOLDER, type MigrateOptions, migrate } from './migrate.js';
