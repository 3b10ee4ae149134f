import { identifierSchema } from '../sql/identifiers.js';
import { intervalSuffix } from './intervals.js';
import type { FamilySpec } from './spec.js';

/** What one partition holds: one LIST value, one RANGE interval, or everything else (DEFAULT). */
export type PartitionKey =
  | { kind: 'list'; value: number }
  | { kind: 'range'; from: Date; to: Date }
  | { kind: 'default' };

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
    name = `${table}_default`;
  } else if (key.kind === 'list') {
    if (family.partitionBy.strategy !== 'list')
      throw new Error('pgparts: LIST key on a RANGE family');
    name = family.partitionBy.naming
      .replaceAll('{table}', table)
      .replaceAll('{value}', key.value < 0 ? `m${-key.value}` : String(key.value));
  } else {
    if (family.partitionBy.strategy !== 'range')
      throw new Error('pgparts: RANGE key on a LIST family');
    name = family.partitionBy.naming
      .replaceAll('{table}', table)
      .replaceAll('{suffix}', intervalSuffix(family.partitionBy.interval, key.from));
  }
  const checked = identifierSchema.safeParse(name);
  if (!checked.success) {
    throw new Error(
      `pgparts: family ${family.name}: partition name ${JSON.stringify(name)} is not usable ` +
        `(${checked.error.issues[0]?.message}); shorten the table name or change the naming scheme`,
    );
  }
  return name;
}
