import type { FamilySpec } from '../define/spec.js';
import { textLiteral } from '../sql/literals.js';

/**
 * The interval a RANGE family's first partitions were migrated with, read from the DO block of
 * the earlier migration that created them (initialRangePartitionsSql: `date_trunc('<interval>',
 * ...)` then the family's tables): for a pgparts.json written before it recorded the interval.
 * Undefined when no earlier migration holds such a block for the family's tables.
 */
const BLOCK =
  /first_start timestamp := date_trunc\('(\w+)', now\(\) AT TIME ZONE 'UTC'\)[\s\S]*?FOREACH parent IN ARRAY ARRAY\[([^\]]*)\][\s\S]*?to_regclass\(format\('%I\.%I', ('(?:[^']|'')*')/g;

export function migratedInterval(texts: readonly string[], family: FamilySpec): string | undefined {
  const schema = textLiteral(family.schema);
  const tables = family.tables.map((t) => textLiteral(t));
  for (const text of texts) {
    for (const found of text.matchAll(BLOCK)) {
      const [, interval, list = '', inSchema] = found;
      const names = list.split(',').map((s) => s.trim());
      if (inSchema === schema && tables.some((t) => names.includes(t))) return interval;
    }
  }
  return undefined;
}
