/**
 * pgparts: the engine. Declare families next to Drizzle tables, generate and run migrations,
 * inspect, plan, apply, drain, retire and convert. The package's own domains are in
 * `pgparts/leaderboard`, `pgparts/killmails` and `pgparts/presets`.
 */

// inspect
export { type InspectOptions, inspect } from './catalog/inspect.js';
export {
  inspectReadable,
  type ReadableSnapshot,
  type UnreadableFamily,
} from './catalog/inspect-readable.js';
// operations: recorded maintenance runs, unfinished operations, metrics
export {
  type FamilyRuns,
  MAINTENANCE_RUNS_TABLE,
  type MaintenanceRun,
  readMaintenanceRuns,
} from './catalog/maintenance-runs.js';
export {
  assertSupportedServer,
  MIN_SERVER_VERSION_NUM,
  serverMajor,
  serverVersionNum,
  unsupportedServerReason,
} from './catalog/server-version.js';
export type {
  Anomaly,
  DefaultRows,
  FamilySnapshot,
  ParentInfo,
  PartitionInfo,
  Snapshot,
  TableSnapshot,
  UnfinishedOperation,
  UnfinishedWork,
} from './catalog/snapshot.js';
// declare
export {
  addIntervals,
  INTERVALS,
  type Interval,
  intervalContaining,
  intervalStart,
  intervalSuffix,
} from './define/intervals.js';
export { keyLabel, type PartitionKey, partitionName } from './define/partition-key.js';
export {
  type FamilySpec,
  type FamilySpecInput,
  familyIdentity,
  parseFamilies,
  parseFamily,
  partitionFamily,
} from './define/spec.js';
// errors
export {
  ERROR_CODES,
  isPgpartsError,
  PgpartsError,
  type PgpartsErrorCode,
  type PgpartsErrorDetails,
} from './errors.js';
export { prometheusMetrics } from './metrics/collect.js';
// migrations
export {
  definePgpartsConfig,
  type PgpartsConfig,
  type SqlObject,
} from './migrations/app-config.js';
export { type GenerateOptions, type GenerateResult, generate } from './migrations/generate.js';
// migrate
export {
  MIGRATIONS_FOLDER,
  type MigrateOptions,
  migrate,
  migrateDryRun,
} from './migrations/migrate.js';
export type { OnlineIndexProgress } from './migrations/online-directives.js';
export type { MigrationPreview } from './migrations/preview.js';
export type {
  AppliedMigration,
  RunMigrationsOptions,
  RunMigrationsResult,
} from './migrations/runner.js';
export { pgpartsTablesFilter } from './migrations/tables-filter.js';
// operations
export {
  type AbandonOptions,
  type BatchOptions,
  type BatchProgress,
  type ConversionState,
  type ConversionTarget,
  type ConvertStepResult,
  conversionTarget,
  convertAbandon,
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertUnswap,
  convertVerify,
  type FillResult,
  formatVerifyReport,
  type PrepResult,
  type ProgressListener,
  readConversionState,
  type SwapOptions,
  type SwitchResult,
  type VerifyOptions,
  type VerifyReport,
} from './ops/convert/index.js';
export {
  type AbandonDrainOptions,
  type AbandonDrainResult,
  abandonDrain,
} from './ops/drain/abandon.js';
export {
  type DrainOptions,
  type DrainPreview,
  type DrainProgress,
  type DrainResult,
  type DrainTableResult,
  drainDryRun,
  drainKey,
} from './ops/drain/drain.js';
export {
  type BuildIndexOptions,
  buildIndexOnline,
  CREATE_INDEX_ONLINE_DIRECTIVE,
  DROP_INDEX_DIRECTIVE,
  type DropIndexOptions,
  dropIndex,
  dropIndexSql,
  formatIndexBuildPlan,
  type IndexBuildEvent,
  type IndexBuildPlan,
  type IndexBuildResult,
  type IndexDrop,
  type IndexDropInput,
  type IndexRename,
  type IndexRenameInput,
  type IndexRenamePlan,
  indexDropSchema,
  indexRenameSchema,
  isOnlineMigration,
  ONLINE_MIGRATION_GUARD_SQL,
  ONLINE_MIGRATION_MARKER,
  type OnlineIndexDirective,
  type OnlineIndexEntry,
  type OnlineIndexSpec,
  type OnlineIndexSpecInput,
  onlineIndexDirectives,
  onlineIndexSpecSchema,
  parseOnlineIndexMigration,
  parseOnlineIndexSpec,
  planIndexBuild,
  planIndexRename,
  planIndexReplacement,
  RENAME_INDEX_DIRECTIVE,
  REPLACE_INDEX_ONLINE_DIRECTIVE,
  type RenameIndexOptions,
  renameIndexOnline,
  renderOnlineIndexMigration,
  replacementSpec,
} from './ops/online-index.js';
export {
  type ReattachOptions,
  type ReattachPreview,
  type ReattachResult,
  type ReattachUnit,
  reattachDryRun,
  reattachKey,
} from './ops/reattach.js';
export {
  type RetiredPartition,
  type RetireMode,
  type RetireOptions,
  type RetirePreview,
  type RetireResult,
  retireDryRun,
  retireKey,
  retirePreviewSql,
  unretireKey,
} from './ops/retention.js';
export {
  type Notice,
  type Plan,
  type PlanOptions,
  plan,
  SpecMismatchError,
  type Step,
  type StepKind,
} from './plan/plan.js';
export { specMismatches } from './plan/spec-checks.js';
export {
  type FamilyStatus,
  type StatusReport,
  status,
  type TableStatus,
  type UnfinishedCounts,
  unfinishedCounts,
} from './plan/status.js';
// apply
export { type LockKey, lockHolder, MAINTENANCE_LOCK_KEY } from './run/advisory-lock.js';
export {
  type ApplyEvent,
  type ApplyOptions,
  type ApplyResult,
  apply,
  type StepContext,
  type StepExecutor,
  type StepExecutors,
  type StepResult,
} from './run/apply.js';
export type { AnyPgDatabase } from './run/database.js';
export { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_RETRIES } from './run/lock-timeout.js';
export { type MaintainOptions, maintain } from './run/maintain.js';
export {
  type MissingPrivilege,
  missingPrivileges,
  type PrivilegeCheckOptions,
  type PrivilegedCommand,
  preflightPrivileges,
} from './run/privileges.js';
export {
  DEFAULT_REPLY_TIMEOUT_S,
  type ReplyWatchdogOptions,
  replyWatchdog,
} from './run/reply-watchdog.js';
export { isHotStandby } from './run/standby.js';
// plan
export {
  type PlanStatementsOptions,
  planStatements,
  withStepStatements,
} from './run/step-statements.js';
// generate
export {
  boundSpecSql,
  createPartitionSql,
  familyMigrationSql,
  partitionByClause,
} from './sql/partition-ddl.js';
