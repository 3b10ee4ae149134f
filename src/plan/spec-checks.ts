import type { FamilySnapshot } from '../catalog/snapshot.js';
import { matchesSpec } from '../catalog/snapshot.js';
import { keyTypeProblem } from '../define/key-types.js';
import {
  type ListValue,
  type PartitionKey,
  partitionNameProblems,
} from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';

/** `RANGE (killmail_time)` as the spec declares it, for messages. */
function declaredKey(family: FamilySpec): string {
  return `${family.partitionBy.strategy.toUpperCase()} (${family.partitionBy.column})`;
}

/**
 * What makes a spec unusable against this database: a missing or unpartitioned table, a
 * partition key other than the declared one, an unreadable `valuesFrom`. The planner refuses to
 * plan (before any DDL) while there is any; each message names the table and what to do.
 */
export function specMismatches(family: FamilySpec, snapshot: FamilySnapshot): string[] {
  const problems: string[] = [];
  for (const table of snapshot.tables) {
    const name = `${table.schema}.${table.name}`;
    const parent = table.parent;
    if (!parent) {
      problems.push(`table ${name} does not exist; create it first (pgparts migrate)`);
      continue;
    }
    if (parent.relkind !== 'p' || !parent.strategy) {
      problems.push(`table ${name} is not partitioned; it must be ${declaredKey(family)}`);
      continue;
    }
    if (!matchesSpec(family, parent)) {
      problems.push(
        `table ${name} is partitioned by ${parent.keyDefinition ?? parent.strategy.toUpperCase()}, ` +
          `but the spec says ${declaredKey(family)}; fix partitionBy in family ${family.name}`,
      );
      continue;
    }
    const typeProblem = parent.keyType ? keyTypeProblem(family, parent.keyType) : undefined;
    if (typeProblem) problems.push(`table ${name}: ${typeProblem}`);
  }
  if (snapshot.sourceError) problems.push(snapshot.sourceError);
  if (problems.length === 0) problems.push(...listNameClashes(family, snapshot));
  return problems;
}

/**
 * LIST values whose partitions would share a name, counting the keys the database holds
 * partitions of and the `valuesFrom` values as well as the spec's (a value 'eu-west' listed
 * after 'Eu West' got its partition orders_eu_west): that family cannot be planned, and is
 * reported as not matching while the others are kept.
 */
function listNameClashes(family: FamilySpec, snapshot: FamilySnapshot): string[] {
  if (family.partitionBy.strategy !== 'list') return [];
  const keys: PartitionKey[] = [...knownListValues(family, snapshot)].map((value) => ({
    kind: 'list',
    value,
  }));
  return partitionNameProblems(family, keys).map(
    (problem) => `${problem} (counting the keys the database holds partitions of)`,
  );
}

/** A LIST family's values: the spec's, `valuesFrom`'s, and those the database has partitions of. */
export function knownListValues(family: FamilySpec, snapshot: FamilySnapshot): Set<ListValue> {
  const spec = family.partitionBy;
  const values = new Set<ListValue>([
    ...(spec.strategy === 'list' ? spec.values : []),
    ...(snapshot.sourceValues ?? []),
  ]);
  for (const table of snapshot.tables)
    for (const p of table.partitions) if (p.key?.kind === 'list') values.add(p.key.value);
  return values;
}
