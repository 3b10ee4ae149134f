import type { UnreadableFamily } from '../catalog/inspect-readable.js';
import type { FamilyRuns } from '../catalog/maintenance-runs.js';
import type { Snapshot } from '../catalog/snapshot.js';
import type { FamilySpec } from '../define/spec.js';
import { beingConverted, findFamilySnapshot, type StepKind } from '../plan/plan.js';
import { type StatusReport, unfinishedCounts } from '../plan/status.js';
import type { MetricFamily, Sample } from './exposition.js';

/** The kinds of status's pending (non-destructive) steps, each a series of pgparts_pending_steps. */
const PENDING_STEP_KINDS = [
  'create',
  'drain',
  'finalize-detach',
] as const satisfies readonly StepKind[];

/** What the metrics are computed from: one snapshot and what was read next to it. */
export interface MetricInputs {
  /** The families read (in the snapshot). */
  families: readonly FamilySpec[];
  /** The families whose catalog read gave up on a lock: pgparts_catalog_read_ok 0, no other series. */
  unreadable?: readonly UnreadableFamily[];
  snapshot: Snapshot;
  report: StatusReport;
  runs: readonly FamilyRuns[];
  /** Invalid indexes on each parent and its partitions, by `schema.table`. */
  invalidIndexes: ReadonlyMap<string, number>;
}

/**
 * DEFAULT's rows for the gauge: reltuples, corrected by what inspect saw (whether DEFAULT holds a
 * row). reltuples is -1 until the first ANALYZE, and autovacuum never analyzes a DEFAULT with a
 * few stray rows: the gauge was NaN there, and an alert on `> 0` never fired.
 */
function defaultRowsValue(partition: {
  estimatedRows: number | null;
  defaultRows: { hasRows: boolean } | null;
}): number {
  const estimate = partition.estimatedRows;
  const held = partition.defaultRows?.hasRows;
  if (held === true) return Math.max(1, estimate ?? 0);
  if (held === false) return 0;
  return estimate ?? Number.NaN;
}

/**
 * pgparts's metrics for `pgparts status --format prometheus`: gauges per family and table, all
 * prefixed `pgparts_`. Pure: the numbers come from the snapshot, the status report, the
 * recorded runs and the catalog reads the caller made.
 */
export function buildMetrics(input: MetricInputs): MetricFamily[] {
  const now = input.report.now.getTime();
  const ahead: Sample[] = [];
  const defaultRows: Sample[] = [];
  const backlog: Sample[] = [];
  const invalid: Sample[] = [];
  const pending: Sample[] = [];
  const unfinished: Sample[] = [];
  const sinceSuccess: Sample[] = [];
  const steps: Sample[] = [];
  const mismatch: Sample[] = [];
  const readOk: Sample[] = [];
  for (const family of input.unreadable ?? []) {
    readOk.push({ labels: { family: family.family, schema: family.schema }, value: 0 });
  }
  for (const family of input.families) {
    readOk.push({ labels: { family: family.name, schema: family.schema }, value: 1 });
    // Every family, 0 or 1: a family whose spec does not match has no other series.
    const problems = input.report.mismatched.find(
      (m) => m.family === family.name && m.schema === family.schema,
    );
    mismatch.push({
      labels: { family: family.name, schema: family.schema },
      value: problems ? 1 : 0,
    });
    const found = findFamilySnapshot(input.snapshot, family);
    const status = input.report.families.find((f) => f.family === family.name);
    if (!found || !status) continue;
    const converting = beingConverted(found) !== undefined;
    for (const table of found.tables) {
      const labels = { family: family.name, schema: family.schema, table: table.name };
      // A family whose conversion has not swapped yet has no premake window: its writes go to
      // the legacy tables, so no series (an alert on it would fire for every paused conversion).
      if (family.partitionBy.strategy === 'range' && !converting) {
        const count = table.partitions.filter(
          (p) => p.key?.kind === 'range' && p.key.from.getTime() > now,
        ).length;
        ahead.push({ labels, value: count });
      }
      const defaultPartition = table.partitions.find((p) => p.isDefault);
      if (defaultPartition) {
        defaultRows.push({ labels, value: defaultRowsValue(defaultPartition) });
      }
      const retiring = status.retentionCandidates.reduce(
        (sum, step) => sum + step.tables.filter((t) => t === table.name).length,
        0,
      );
      backlog.push({ labels, value: retiring });
      invalid.push({
        labels,
        value: input.invalidIndexes.get(`${family.schema}.${table.name}`) ?? 0,
      });
      pending.push({ labels, value: table.partitions.filter((p) => p.detachPending).length });
    }
    const familyLabels = { family: family.name, schema: family.schema };
    // The steps `status --check` fails on (status's pending: what apply would create, drain or
    // finalize), by kind; every kind always, so an alert's series exists before it fires.
    for (const kind of PENDING_STEP_KINDS) {
      const count = status.pending.filter((s) => s.kind === kind).length;
      steps.push({ labels: { ...familyLabels, kind }, value: count });
    }
    // The operations record (pgparts_operations), read once by inspect for status too.
    const counts = unfinishedCounts(status.unfinished);
    for (const state of ['interrupted', 'running', 'paused', 'unrecorded'] as const) {
      unfinished.push({ labels: { ...familyLabels, state }, value: counts[state] });
    }
    const success = input.runs.find((r) => r.family === family.name)?.lastSuccess;
    sinceSuccess.push({
      labels: familyLabels,
      value: success
        ? Math.max(0, (now - success.finishedAt.getTime()) / 1000)
        : Number.POSITIVE_INFINITY,
    });
  }
  const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({
    name,
    help,
    type: 'gauge',
    samples,
  });
  return [
    gauge(
      'pgparts_partitions_ahead',
      'RANGE partitions whose lower bound is after now (the premake window still ahead).',
      ahead,
    ),
    gauge(
      'pgparts_default_partition_rows',
      'Rows in the DEFAULT partition, estimated from pg_class.reltuples; at least 1 when DEFAULT holds a row (reltuples is -1 before the first ANALYZE and lags after writes), 0 when it holds none; NaN only when neither could be read.',
      defaultRows,
    ),
    gauge(
      'pgparts_unfinished_operations',
      'Operations on a key begun and not finished (pgparts_operations), by state: interrupted (no one runs it; pgparts apply, or reattach, finishes it), running (its key lock is held), paused (a conversion between two of its steps, waiting for the next), unrecorded (1 when a drain left tables or capture triggers and no operation is recorded; pgparts drain of the key finishes them).',
      unfinished,
    ),
    gauge(
      'pgparts_pending_steps',
      'Steps pgparts apply would run now that create or move (kind: create, drain, finalize-detach): a declared LIST value or a RANGE interval of the premake window without its partitions, rows in DEFAULT of a key with its own partitions. The steps status --check fails on; retention is pgparts_retention_backlog_partitions.',
      steps,
    ),
    gauge(
      'pgparts_spec_mismatch',
      'Whether the family spec does not match the database (1: a table missing or not partitioned, another partition key, an unreadable valuesFrom): pgparts status names the problem; plan and apply refuse to run, and the family has no other series, until it is fixed.',
      mismatch,
    ),
    gauge(
      'pgparts_catalog_read_ok',
      "Whether the family's tables could be read (0: another session held a lock on one, a DEFAULT most often, past the read's lock_timeout and retries; the family has no other series in this scrape, and the other families are read on their own).",
      readOk,
    ),
    gauge(
      'pgparts_seconds_since_last_successful_maintenance',
      'Seconds since the last maintenance run (apply/maintain) that ended without a failed step; +Inf when none is recorded.',
      sinceSuccess,
    ),
    gauge(
      'pgparts_retention_backlog_partitions',
      'Partitions outside the retention window, still attached (retire steps pending).',
      backlog,
    ),
    gauge(
      'pgparts_invalid_indexes',
      'Invalid indexes (pg_index.indisvalid false) on the parent table and its partitions.',
      invalid,
    ),
    gauge(
      'pgparts_pending_detaches',
      'Partitions left "detach pending" by an interrupted DETACH ... CONCURRENTLY; the next apply finalizes them.',
      pending,
    ),
  ];
}
