import type { FamilySpec } from '../define/spec.js';
import { textLiteral } from '../sql/literals.js';
import { sinceLastDrop } from './partition-clauses.js';

/**
 * The interval a RANGE family's first partitions were migrated with, read from the DO block of
 * the earlier migration that created them (initialRangePartitionsSql: `date_trunc('<interval>',
 * ...)` then the family's tables): for a pgparts.json written before it recorded the interval.
 * Undefined when no earlier migration holds such a block for the family's tables. A block from
 * before a table's last DROP TABLE is no longer its: that table is created anew.
 */
const BLOCK =
  /first_start timestamp := date_trunc\('(\w+)', now\(\) AT TIME ZONE 'UTC'\)[\s\S]*?FOREACH parent IN ARRAY ARRAY\[([^\]]*)\][\s\S]*?to_regclass\(format\('%I\.%I', ('(?:[^']|'')*')/g;

export function migratedInterval(texts: readonly string[], family: FamilySpec): string | undefined {
  const schema = textLiteral(family.schema);
  for (const table of family.tables) {
    const name = textLiteral(table);
    for (const text of sinceLastDrop(texts, family.schema, table)) {
      for (const found of text.matchAll(BLOCK)) {
        const [, interval, list = '', inSchema] = found;
        const names = list.split(',').map((s) => s.trim());
        if (inSchema === schema && names.includes(name)) return interval;
      }
    }
  }
  return undefined;
}
