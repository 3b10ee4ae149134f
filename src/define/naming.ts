/**
 * Partition names, from plain values: the spec's own parse (spec.ts) and the plan's check of
 * every key (partition-key.ts) build and compare names with these, so both see the same names.
 */

/** A LIST value: an integer (season 14) or text (region 'eu-west'). */
export type ListValue = number | string;

/**
 * The part of a partition name that stands for a LIST value: integers as digits (`m` for the
 * minus sign), text lower-cased with every character other than a-z, 0-9 and _ turned into _.
 * Two values can give one name ('EU' and 'eu'); such pairs are refused (partitionNameClashes).
 */
export function listValueSlug(value: ListValue): string {
  if (typeof value === 'number') return value < 0 ? `m${-value}` : String(value);
  return value.toLowerCase().replace(/[^a-z0-9_]/g, '_');
}

/** The name of `table`'s partition of a LIST value under `naming` (`{table}_s{value}`). */
export function listPartitionName(naming: string, table: string, value: ListValue): string {
  return naming.replaceAll('{table}', table).replaceAll('{value}', listValueSlug(value));
}

/** The name of `table`'s DEFAULT partition. */
export function defaultPartitionName(table: string): string {
  return `${table}_default`;
}

/** One partition a family would have: its table, its name, and the key it holds (a label). */
export interface NamedPartition {
  table: string;
  name: string;
  /** The key as keyLabel prints it; undefined for the DEFAULT partition. */
  key: string | undefined;
}

function describe(p: NamedPartition): string {
  return p.key === undefined
    ? `${p.table}'s DEFAULT partition`
    : `${p.table}'s partition of ${JSON.stringify(p.key)}`;
}

/**
 * Why `partitions` cannot all be created in one schema next to `tables`: two of them (of one
 * table or of two) with one name, or one named as a table of the family. PostgreSQL would refuse
 * the second CREATE half-way through a migration, and a drain or retire looking for a key's
 * partition by name would find another. One message per clash; none when all differ.
 */
export function partitionNameClashes(
  tables: readonly string[],
  partitions: readonly NamedPartition[],
): string[] {
  const problems: string[] = [];
  const seen = new Map<string, NamedPartition>();
  for (const p of partitions) {
    if (tables.includes(p.name)) {
      problems.push(
        `${describe(p)} would be named ${p.name}, the name of the family's table ${p.name}; ` +
          'change partitionBy.naming or rename a table',
      );
      continue;
    }
    const other = seen.get(p.name);
    if (!other) {
      seen.set(p.name, p);
      continue;
    }
    if (other.table === p.table && other.key === p.key) continue;
    if (other.table !== p.table) {
      problems.push(
        `${describe(other)} and ${describe(p)} would both be named ${p.name}; change ` +
          'partitionBy.naming (a separator the table names do not contain) or rename a table',
      );
    } else if (other.key === undefined || p.key === undefined) {
      const value = other.key ?? p.key;
      problems.push(
        `LIST value ${JSON.stringify(value)} gives the partition name ${p.name}, the DEFAULT ` +
          "partition's; give the family another naming scheme (partitionBy.naming) or leave the " +
          'value to DEFAULT',
      );
    } else {
      problems.push(
        `LIST values ${JSON.stringify(other.key)} and ${JSON.stringify(p.key)} both give the ` +
          `partition name ${p.name}; partition names are derived from the values, so they must ` +
          'differ in more than case and punctuation',
      );
    }
  }
  return problems;
}
