import type { PartitionInfo, Snapshot } from '../catalog/snapshot.js';
import { addIntervals, intervalStart } from '../define/intervals.js';
import { keyLabel, type PartitionKey } from '../define/partition-key.js';
import { type FamilySpec, parseFamily } from '../define/spec.js';
import { coverage, indexTable } from './coverage.js';
import { type Notice, type Plan, plan, type Step } from './plan.js';

/**
 * `pgparts status`: the snapshot and the plan, summed up per family and table, and the list of
 * what needs a person (for `--check`). Pure, like the planner.
 */

export interface TableStatus {
  table: string;
  partitions: PartitionInfo[];
  /** The DEFAULT partition's name and exact row count; null when there is none. */
  defaultPartition: string | null;
  defaultRows: number | null;
  /** RANGE: the first interval, from the current one on, with no partition in this table. */
  firstUncovered: PartitionKey | null;
  /** Bytes of every partition together. */
  bytes: number;
}

export interface FamilyStatus {
  family: string;
  /** `LIST by season_id, values from public.season.id` */
  description: string;
  tables: TableStatus[];
  /** Steps apply would run that create or move (non-destructive). */
  pending: Step[];
  /** Retire steps: partitions outside the retention window. */
  retentionCandidates: Step[];
  notices: Notice[];
}

export interface StatusReport {
  takenAt: Date;
  now: Date;
  families: FamilyStatus[];
  /** What needs attention; empty when all is well. `pgparts status --check` fails on any. */
  attention: string[];
}

function describe(family: FamilySpec): string {
  const p = family.partitionBy;
  if (p.strategy === 'list') {
    const from = p.valuesFrom
      ? `, values from ${p.valuesFrom.schema}.${p.valuesFrom.table}.${p.valuesFrom.column}`
      : '';
    const listed = p.values.length > 0 ? `, values ${p.values.join(', ')}` : '';
    return `LIST by ${p.column}${from}${listed}`;
  }
  const retention = family.retention
    ? `, retention ${family.retention.keep} ${p.interval}s (${family.retention.mode})`
    : '';
  return `RANGE by ${p.column}, one ${p.interval} each, premake ${p.premake}${retention}`;
}

/** How far ahead a RANGE table is covered: stops looking after this many intervals. */
const LOOKAHEAD_LIMIT = 10_000;

/**
 * Sums up `snapshot` for `families` at `now` (the snapshot's own clock by default). `planned`
 * is the plan for the same snapshot, computed here when not given.
 */
export function status(
  families: readonly FamilySpec[],
  snapshot: Snapshot,
  now: Date = snapshot.takenAt,
  planned: Plan = plan(families, snapshot, now),
): StatusReport {
  const attention: string[] = [];
  const result: FamilyStatus[] = [];
  for (const family of families.map((f) => parseFamily(f))) {
    const found = snapshot.families.find((f) => f.name === family.name);
    if (!found) continue;
    const p = family.partitionBy;
    const tables: TableStatus[] = found.tables.map((table) => {
      const index = indexTable(family, table);
      let firstUncovered: PartitionKey | null = null;
      if (p.strategy === 'range') {
        let from = intervalStart(p.interval, now);
        for (let i = 0; i < LOOKAHEAD_LIMIT; i += 1) {
          const key: PartitionKey = { kind: 'range', from, to: addIntervals(p.interval, from, 1) };
          const state = coverage(index, key).state;
          if (state === 'none' || state === 'overlap') {
            firstUncovered = key;
            break;
          }
          from = key.to;
        }
      }
      const defaultPartition = index.defaultPartition;
      const defaultRows = defaultPartition?.defaultRows?.total ?? null;
      if (defaultPartition && defaultRows) {
        const keys = defaultPartition.defaultRows?.byKey
          .map((k) => `${keyLabel(k.key)}: ${k.rows}`)
          .join(', ');
        attention.push(
          `${defaultPartition.name} holds ${defaultRows} row(s)${keys ? ` (${keys})` : ''}; ` +
            'they belong in their own partitions (pgparts plan shows the drain)',
        );
      }
      return {
        table: table.name,
        partitions: table.partitions,
        defaultPartition: defaultPartition?.name ?? null,
        defaultRows,
        firstUncovered,
        bytes: table.partitions.reduce((sum, part) => sum + part.bytes, 0),
      };
    });
    const steps = planned.steps.filter((s) => s.family === family.name);
    const pending = steps.filter((s) => !s.destructive);
    const notices = planned.notices.filter((n) => n.family === family.name);
    if (pending.length > 0) {
      const labels = [...new Set(pending.map((s) => s.label))].join(', ');
      attention.push(
        `family ${family.name}: ${pending.length} step(s) pending for ${labels}; run pgparts apply`,
      );
    }
    for (const notice of notices) {
      if (notice.severity === 'warning') attention.push(`family ${family.name}: ${notice.message}`);
    }
    result.push({
      family: family.name,
      description: describe(family),
      tables,
      pending,
      retentionCandidates: steps.filter((s) => s.kind === 'retire'),
      notices,
    });
  }
  return { takenAt: snapshot.takenAt, now, families: result, attention };
}
