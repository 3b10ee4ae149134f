/** pgparts: the domain-free engine. Domains: `pgparts/leaderboard`, `pgparts/killmails`. */

export {
  type LockKey,
  lockHolder,
  MAINTENANCE_LOCK_KEY,
} from './core/advisory-lock.js';
export type { Anomaly } from './core/anomalies.js';
export {
  type ApplyEvent,
  type ApplyOptions,
  type ApplyResult,
  apply,
  type StepContext,
  type StepExecutor,
  type StepExecutors,
  type StepResult,
} from './core/apply.js';
export {
  type DefaultRows,
  type FamilySnapshot,
  type InspectOptions,
  inspect,
  type ParentInfo,
  type PartitionInfo,
  type Snapshot,
  specMismatches,
  type TableSnapshot,
} from './core/catalog.js';
export {
  type BatchOptions,
  type BatchProgress,
  builtInTargets,
  type ConversionState,
  type ConversionTarget,
  conversionTarget,
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
  convertVerify,
  type FillResult,
  formatVerifyReport,
  type ProgressListener,
  readConversionState,
  type StepResult as ConvertStepResult,
  type SwapOptions,
  type SwitchResult,
  type VerifyOptions,
  type VerifyReport,
} from './core/convert/index.js';
export type { AnyPgDatabase } from './core/database.js';
export {
  boundSpecSql,
  createPartitionSql,
  familyMigrationSql,
  partitionByClause,
} from './core/ddl.js';
export {
  type DrainOptions,
  type DrainProgress,
  type DrainResult,
  type DrainTableResult,
  drainKey,
} from './core/drain.js';
export {
  assertMultiSession,
  type DriverCapabilities,
  type DriverName,
  driverCapabilities,
} from './core/driver-capabilities.js';
export {
  type ExplainedQuery,
  explainQuery,
  type PlanNode,
  type PlanScan,
  planNodes,
} from './core/explain.js';
export { identifierSchema, quoteIdent, quoteQualified } from './core/identifiers.js';
export {
  addIntervals,
  INTERVALS,
  type Interval,
  intervalContaining,
  intervalStart,
  intervalSuffix,
} from './core/intervals.js';
export { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_RETRIES } from './core/lock-timeout.js';
export { isManagedComment, MANAGED_MARKER } from './core/marker.js';
export { keyLabel, type PartitionKey, partitionName } from './core/partition-key.js';
export {
  type Notice,
  type Plan,
  type PlanOptions,
  plan,
  SpecMismatchError,
  type Step,
  type StepKind,
} from './core/plan.js';
export {
  type ReattachResult,
  type RetiredPartition,
  type RetireMode,
  type RetireOptions,
  type RetireResult,
  reattachKey,
  retireKey,
} from './core/retention.js';
export {
  assertSupportedServer,
  MIN_SERVER_VERSION_NUM,
  serverMajor,
  serverVersionNum,
  unsupportedServerReason,
} from './core/server-version.js';
export {
  type FamilySpec,
  type FamilySpecInput,
  familySchema,
  parseFamily,
  partitionFamily,
} from './core/spec.js';
export { type FamilyStatus, type StatusReport, status, type TableStatus } from './core/status.js';
export { builtInFamilies } from './families.js';
export { ensureSeasonPartitions, type MaintainOptions, maintain } from './maintain.js';
export { MIGRATIONS_FOLDER, type MigrateOptions, migrate } from './migrate.js';
export {
  definePgpartsConfig,
  type PgpartsConfig,
  type SqlObject,
} from './migrations/app-config.js';
export { type GenerateOptions, type GenerateResult, generate } from './migrations/generate.js';
export type {
  AppliedMigration,
  RunMigrationsOptions,
  RunMigrationsResult,
} from './migrations/runner.js';
export { pgpartsTablesFilter } from './migrations/tables-filter.js';
