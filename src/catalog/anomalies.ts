import { isAlignedRange } from '../define/bounds.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { quoteQualified } from '../sql/identifiers.js';
import { textLiteral } from '../sql/literals.js';
import { OWNED_TABLES } from '../sql/ownership.js';
import { DEFAULT_EXCLUDES_CHECK } from '../sql/partition-ddl.js';
import type { OwnershipRecords } from './ownership.js';
import type { Anomaly, PartitionInfo, TableSnapshot } from './snapshot.js';

/** A partition's index whose indoption (ASC/DESC, NULLS) differs from its parent index's. */
export interface IndexOrderIssue {
  table: string;
  partition: string;
  index: string;
  parentIndex: string;
  option: string;
  parentOption: string;
}

/** `2026-11-01` at UTC midnight, the full ISO instant otherwise. */
const iso = (d: Date) => {
  const text = d.toISOString();
  return text.endsWith('T00:00:00.000Z') ? text.slice(0, 10) : text;
};

function expectedName(family: FamilySpec, table: string, p: PartitionInfo): string | undefined {
  if (!p.key) return undefined;
  try {
    return partitionName(family, table, p.key);
  } catch {
    return undefined;
  }
}

/** Partitions whose bound is not one key of the spec's grid (several values, MINVALUE, ...). */
function misaligned(family: FamilySpec, table: TableSnapshot): Anomaly[] {
  const found: Anomaly[] = [];
  const spec = family.partitionBy;
  for (const p of table.partitions) {
    if (p.isDefault) continue;
    const aligned =
      p.key !== null &&
      (p.key.kind !== 'range' ||
        (spec.strategy === 'range' && isAlignedRange(spec.interval, p.key)));
    if (aligned) continue;
    const what =
      spec.strategy === 'range'
        ? `one ${spec.interval} starting at a ${spec.interval} boundary`
        : 'one integer value';
    found.push({
      kind: 'misaligned',
      severity: 'warning',
      table: table.name,
      partition: p.name,
      message: `${p.name} holds ${p.bound}, not ${what}; pgparts plans around it and never removes it`,
    });
  }
  return found;
}

/** Holes between consecutive RANGE partitions of one table. */
function gaps(table: TableSnapshot): Anomaly[] {
  const found: Anomaly[] = [];
  const ranges = table.partitions.flatMap((p) =>
    p.key?.kind === 'range' ? [{ p, key: p.key }] : [],
  );
  for (let i = 1; i < ranges.length; i += 1) {
    const before = ranges[i - 1];
    const after = ranges[i];
    if (!before || !after || before.key.to.getTime() >= after.key.from.getTime()) continue;
    found.push({
      kind: 'gap',
      severity: 'warning',
      table: table.name,
      partition: after.p.name,
      message:
        `${table.name} has no partition for ${iso(before.key.to)}..${iso(after.key.from)} ` +
        `(between ${before.p.name} and ${after.p.name}); rows there go to DEFAULT or fail`,
      span: { from: before.key.to, to: after.key.from },
    });
  }
  return found;
}

interface RangePartition {
  partition: PartitionInfo;
  key: PartitionKey;
  from: number;
  to: number;
}

/** A table's RANGE partitions by start; they never overlap each other (PostgreSQL refuses). */
function rangesOf(table: TableSnapshot): RangePartition[] {
  return table.partitions
    .flatMap((p) =>
      p.key?.kind === 'range'
        ? [
            {
              partition: p,
              key: p.key,
              from: p.key.from.getTime(),
              to: p.key.to.getTime(),
            },
          ]
        : [],
    )
    .sort((x, y) => x.from - y.from);
}

/**
 * Partitions of two tables of the family that overlap without being equal (not co-partitioned).
 * One sweep over both tables' sorted ranges per pair: linear, not partitions squared.
 */
function overlaps(tables: TableSnapshot[]): Anomaly[] {
  const found: Anomaly[] = [];
  const ranges = tables.map(rangesOf);
  for (let i = 0; i < tables.length; i += 1) {
    for (let j = i + 1; j < tables.length; j += 1) {
      const a = tables[i];
      const b = tables[j];
      const ra = ranges[i] ?? [];
      const rb = ranges[j] ?? [];
      if (!a || !b) continue;
      let first = 0;
      for (const pa of ra) {
        while (first < rb.length && (rb[first]?.to ?? 0) <= pa.from) first += 1;
        for (let k = first; k < rb.length; k += 1) {
          const pb = rb[k];
          if (!pb || pb.from >= pa.to) break;
          if (pb.to <= pa.from || (pa.from === pb.from && pa.to === pb.to)) continue;
          found.push({
            kind: 'overlap',
            severity: 'warning',
            table: b.name,
            partition: pb.partition.name,
            message:
              `${pb.partition.name} (${keyLabel(pb.key)}) overlaps ${pa.partition.name} (${keyLabel(pa.key)}) without ` +
              `matching it: ${a.name} and ${b.name} are not partitioned alike`,
          });
        }
      }
    }
  }
  return found;
}

/**
 * Everything in the catalog that does not match the spec: partitions not named as pgparts names
 * them, partitions pgparts did not create, bounds off the spec's grid, gaps, tables of one family
 * partitioned differently, an unexpected DEFAULT, and adopted indexes whose ASC/DESC differs from
 * the parent index (docs/postgres-behaviours.md#parent-indexes-and-sort-order: such a partition sorts instead of reading in order).
 */
export function findAnomalies(
  family: FamilySpec,
  tables: TableSnapshot[],
  indexIssues: IndexOrderIssue[],
): Anomaly[] {
  const found: Anomaly[] = [];
  for (const table of tables) {
    for (const p of table.partitions) {
      const expected = p.isDefault ? `${table.name}_default` : expectedName(family, table.name, p);
      if (expected && expected !== p.name) {
        found.push({
          kind: 'foreign-name',
          severity: 'info',
          table: table.name,
          partition: p.name,
          message: `${p.name} holds ${p.key ? keyLabel(p.key) : p.bound}; pgparts would name it ${expected}`,
        });
      }
      if (!p.managed) {
        found.push({
          kind: 'unmanaged',
          severity: 'info',
          table: table.name,
          partition: p.name,
          message: `${p.name} was not created by pgparts (not in its ownership record, whatever its comment says); it is never removed automatically`,
        });
      }
      if (p.isDefault && p.excludesCheck) {
        found.push({
          kind: 'leftover-default-check',
          severity: 'warning',
          table: table.name,
          partition: p.name,
          message:
            `${p.name} carries the CHECK ${DEFAULT_EXCLUDES_CHECK} of a partition create that did not finish: ` +
            `rows of the key it excludes are refused until it goes; the next create on ${table.name} replaces ` +
            `and drops it (or: ALTER TABLE ... DROP CONSTRAINT ${DEFAULT_EXCLUDES_CHECK})`,
        });
      }
      if (p.isDefault && !family.defaultPartition) {
        found.push({
          kind: 'unexpected-default',
          severity: 'info',
          table: table.name,
          partition: p.name,
          message: `${table.name} has a DEFAULT partition (${p.name}) that the spec does not declare`,
        });
      }
    }
    found.push(...misaligned(family, table));
    if (family.partitionBy.strategy === 'range') found.push(...gaps(table));
  }
  if (family.partitionBy.strategy === 'range') found.push(...overlaps(tables));
  for (const issue of indexIssues) {
    found.push({
      kind: 'index-order',
      severity: 'warning',
      table: issue.table,
      partition: issue.partition,
      message:
        `index ${issue.index} of ${issue.partition} orders its columns differently from ` +
        `${issue.parentIndex} (indoption ${issue.option} vs ${issue.parentOption}); queries on that ` +
        `partition sort instead of reading in index order: recreate the index with the parent's ` +
        `ASC/DESC and attach it (ALTER INDEX ${issue.parentIndex} ATTACH PARTITION ...)`,
    });
  }
  return found;
}

/**
 * pgparts's records in a schema are kept by family name. Partitions recorded under this family's
 * name whose parent the spec does not declare were made by another family of the same name in
 * the schema (another app's, most likely): the two share their records (retired keys,
 * operations, maintenance runs), so one's retire refuses the other's drain and one's runs are
 * reported as the other's. Or the table was taken out of this family: its partitions stay, no
 * longer kept, and their records can go.
 */
export function sharedRecords(family: FamilySpec, ownership: OwnershipRecords): Anomaly[] {
  const elsewhere = new Set<string>();
  for (const record of ownership.byOid.values()) {
    if (
      record.family === family.name &&
      record.role === 'partition' &&
      !family.tables.includes(record.parent)
    ) {
      elsewhere.add(record.parent);
    }
  }
  return [...elsewhere].sort().map((parent) => ({
    kind: 'shared-records' as const,
    severity: 'warning' as const,
    table: family.tables[0] ?? '',
    message:
      `pgparts's records in schema ${family.schema} keep partitions of ${family.schema}.${parent} under ` +
      `the family name ${family.name}, and this family does not declare ${parent}: if another family ` +
      `of that name keeps it (another app's?), the two share their records (retired keys, ` +
      'operations, maintenance runs): family names must differ within a schema, rename one. If ' +
      `${parent} was taken out of this family, its partitions stay and are no longer kept: drop ` +
      `their records with DELETE FROM ${quoteQualified(family.schema, OWNED_TABLES)} WHERE family = ` +
      `${textLiteral(family.name)} AND parent = ${textLiteral(parent)}`,
  }));
}
