import { z } from 'zod';
import { PgpartsError } from '../errors.js';
import { identifierProblem } from '../sql/identifiers.js';
import { intervalSuffix } from './intervals.js';
import {
  defaultPartitionName,
  type ListValue,
  listPartitionName,
  type NamedPartition,
  partitionNameClashes,
} from './naming.js';
import type { FamilySpec } from './spec.js';

export { type ListValue, listValueSlug } from './naming.js';

/** What one partition holds: one LIST value, one RANGE interval, or everything else (DEFAULT). */
export type PartitionKey =
  | { kind: 'list'; value: ListValue }
  | { kind: 'range'; from: Date; to: Date }
  | { kind: 'default' };

/** What a PartitionKey given to an operation must look like (its values are checked later). */
const partitionKeySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('list'), value: z.union([z.number(), z.string()]) }).strict(),
  z
    .object({
      kind: z.literal('range'),
      from: z.date({ error: 'expected a valid Date' }),
      to: z.date({ error: 'expected a valid Date' }),
    })
    .strict(),
  z.object({ kind: z.literal('default') }).strict(),
]);

/** Refuses a key of the wrong shape (`{ kind: 'lst' }`, a string for `from`) with what is wrong. */
export function checkKeyShape(operation: string, key: unknown): void {
  const parsed = partitionKeySchema.safeParse(key);
  if (parsed.success) return;
  const lines = parsed.error.issues.map(
    (issue) => `  - ${issue.path.length > 0 ? issue.path.join('.') : '(key)'}: ${issue.message}`,
  );
  throw new PgpartsError(
    'invalid-input',
    `pgparts: ${operation}: the key is not { kind: 'list', value }, { kind: 'range', from, to } ` +
      `or { kind: 'default' }, nothing was done:\n${lines.join('\n')}`,
    { step: operation },
  );
}

/** A stable text form of a key, for maps, logs and the CLI (`14`, `2026-11-01..2026-12-01`). */
export function keyLabel(key: PartitionKey): string {
  switch (key.kind) {
    case 'list':
      return String(key.value);
    case 'range':
      return `${key.from.toISOString().slice(0, 10)}..${key.to.toISOString().slice(0, 10)}`;
    case 'default':
      return 'DEFAULT';
  }
}

/** The name pgparts gives the partition of `table` that holds `key`. */
export function partitionName(family: FamilySpec, table: string, key: PartitionKey): string {
  let name: string;
  if (key.kind === 'default') {
    name = defaultPartitionName(table);
  } else if (key.kind === 'list') {
    if (family.partitionBy.strategy !== 'list')
      throw new PgpartsError('invalid-input', 'pgparts: LIST key on a RANGE family');
    name = listPartitionName(family.partitionBy.naming, table, key.value);
  } else {
    if (family.partitionBy.strategy !== 'range')
      throw new PgpartsError('invalid-input', 'pgparts: RANGE key on a LIST family');
    name = family.partitionBy.naming
      .replaceAll('{table}', table)
      .replaceAll('{suffix}', intervalSuffix(family.partitionBy.interval, key.from));
  }
  // identifierSchema's own check, called directly: this runs for every partition of every read.
  const problem = identifierProblem(name);
  if (problem) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: family ${family.name}: partition name ${JSON.stringify(name)} is not usable ` +
        `(${problem}); shorten the table name or change the naming scheme`,
    );
  }
  return name;
}

/**
 * Refuses keys of one family whose partitions would have the same name, over every table of the
 * family (`ev`'s partition of `x_1` and `ev_x`'s of `1` under `{table}_{value}`): text values
 * that differ only in case or punctuation, a value `default` (the DEFAULT partition's name), or
 * a name of one of the family's tables. PostgreSQL would refuse the second CREATE half-way
 * through, and a drain or retire looking for the key's partition would find the other one.
 */
export function assertDistinctPartitionNames(
  family: FamilySpec,
  keys: readonly PartitionKey[],
): void {
  const problems = partitionNameProblems(family, keys);
  if (problems.length > 0) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: family ${family.name}: ${problems.join('; ')}`,
    );
  }
}

/** What assertDistinctPartitionNames refuses, one message per clash; empty when none. */
export function partitionNameProblems(family: FamilySpec, keys: readonly PartitionKey[]): string[] {
  const partitions: NamedPartition[] = [];
  for (const table of family.tables) {
    if (family.defaultPartition) {
      partitions.push({
        table,
        name: partitionName(family, table, { kind: 'default' }),
        key: undefined,
      });
    }
    for (const key of keys) {
      if (key.kind === 'default') continue;
      partitions.push({ table, name: partitionName(family, table, key), key: keyLabel(key) });
    }
  }
  return partitionNameClashes(family.tables, partitions);
}

/**
 * The key as the CLI's `<table> <key>` arguments take it: a LIST value as it is, a RANGE key by
 * the day it starts (a date inside the interval names it).
 */
export function keyArgument(key: PartitionKey): string {
  return key.kind === 'range' ? key.from.toISOString().slice(0, 10) : keyLabel(key);
}

/** A recorded key label (`2026-11-01..2026-12-01`) as the CLI takes it; the label when unread. */
export function argumentOfLabel(family: FamilySpec, label: string): string {
  const key = keyFromLabel(family, label);
  return key ? keyArgument(key) : label;
}

/** The key `keyLabel` printed, read back for `family`; undefined when it is not one. */
export function keyFromLabel(family: FamilySpec, label: string): PartitionKey | undefined {
  const spec = family.partitionBy;
  if (spec.strategy === 'list') {
    // keyLabel prints a LIST value as String(value): text as it is, integers as digits.
    const type =
      spec.valueType ?? (spec.values.some((v) => typeof v === 'string') ? 'text' : 'integer');
    if (type === 'text') return { kind: 'list', value: label };
    if (!/^-?\d+$/.test(label)) return undefined;
    const value = Number(label);
    return Number.isSafeInteger(value) ? { kind: 'list', value } : undefined;
  }
  const m = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(label);
  if (!m) return undefined;
  const from = new Date(`${m[1]}T00:00:00Z`);
  const to = new Date(`${m[2]}T00:00:00Z`);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) return undefined;
  return { kind: 'range', from, to };
}
