import { MANAGED_MARKER } from '../define/marker.js';
import { type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { quoteIdent, quoteQualified } from './identifiers.js';
import { listValueLiteral, textLiteral, utcTimestampLiteral } from './literals.js';

/** `FOR VALUES ...` / `DEFAULT` for a key; RANGE bounds always carry an explicit UTC offset. */
export function boundSpecSql(key: PartitionKey): string {
  switch (key.kind) {
    case 'default':
      return 'DEFAULT';
    case 'list':
      return `FOR VALUES IN (${listValueLiteral(key.value)})`;
    case 'range':
      return `FOR VALUES FROM (${utcTimestampLiteral(key.from)}) TO (${utcTimestampLiteral(key.to)})`;
  }
}

/** The statements that create one partition of one table and mark it as pgparts's own. */
export function createPartitionSql(family: FamilySpec, table: string, key: PartitionKey): string[] {
  const name = partitionName(family, table, key);
  const qualified = quoteQualified(family.schema, name);
  return [
    `CREATE TABLE ${qualified} PARTITION OF ${quoteQualified(family.schema, table)} ${boundSpecSql(key)}`,
    `COMMENT ON TABLE ${qualified} IS ${textLiteral(MANAGED_MARKER)}`,
  ];
}

/** `PARTITION BY LIST ("season_id")`, the clause drizzle-kit cannot write. */
export function partitionByClause(family: FamilySpec): string {
  const strategy = family.partitionBy.strategy === 'list' ? 'LIST' : 'RANGE';
  return `PARTITION BY ${strategy} (${quoteIdent(family.partitionBy.column)})`;
}

/** to_char patterns that print what `intervalSuffix` prints, for SQL that runs at migrate time. */
const SUFFIX_PATTERN = {
  day: 'YYYY_MM_DD',
  week: 'IYYY_"w"IW',
  month: 'YYYY_MM',
  year: 'YYYY',
} as const;

/**
 * A DO block that creates the RANGE partitions around the moment the migration runs: `past`
 * intervals back through `premake` ahead, every table of the family, referenced first. The
 * bounds are computed in UTC and written with an explicit offset, so the block means the same in
 * any session TimeZone. It only fills what is missing; the engine keeps the window rolling.
 */
export function initialRangePartitionsSql(family: FamilySpec): string {
  const p = family.partitionBy;
  if (p.strategy !== 'range')
    throw new PgpartsError('internal', 'pgparts: initial range partitions on a LIST family');
  if (!p.naming.startsWith('{table}') || p.naming.split('{suffix}').length !== 2) {
    throw new PgpartsError(
      'invalid-config',
      'pgparts: migrate-time partitions need a naming scheme like {table}..{suffix}',
    );
  }
  const [prefix = '', after = ''] = p.naming.replace('{table}', '').split('{suffix}');
  const tables = family.tables.map((t) => textLiteral(t)).join(', ');
  const unit = `1 ${p.interval}`;
  return `DO $pgparts$
DECLARE
  parent text;
  first_start timestamp := date_trunc(${textLiteral(p.interval)}, now() AT TIME ZONE 'UTC') - ${p.past} * interval ${textLiteral(unit)};
  start_at timestamp;
  part text;
BEGIN
  FOR i IN 0..${p.past + p.premake} LOOP
    start_at := first_start + i * interval ${textLiteral(unit)};
    FOREACH parent IN ARRAY ARRAY[${tables}] LOOP
      part := parent || ${textLiteral(prefix)} || to_char(start_at, ${textLiteral(SUFFIX_PATTERN[p.interval])}) || ${textLiteral(after)};
      IF to_regclass(format('%I.%I', ${textLiteral(family.schema)}, part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
          ${textLiteral(family.schema)}, part, ${textLiteral(family.schema)}, parent,
          to_char(start_at, 'YYYY-MM-DD HH24:MI:SS') || '+00',
          to_char(start_at + interval ${textLiteral(unit)}, 'YYYY-MM-DD HH24:MI:SS') || '+00');
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', ${textLiteral(family.schema)}, part, ${textLiteral(MANAGED_MARKER)});
      END IF;
    END LOOP;
  END LOOP;
END
$pgparts$`;
}

/**
 * What a fresh install needs beyond drizzle-kit's CREATE TABLEs: the DEFAULT partitions, and for
 * RANGE families the partitions around the migration's own date. Referenced tables come first.
 */
export function familyMigrationSql(family: FamilySpec): string[] {
  const statements: string[] = [];
  if (family.defaultPartition) {
    for (const table of family.tables) {
      statements.push(...createPartitionSql(family, table, { kind: 'default' }));
    }
  }
  if (family.partitionBy.strategy === 'range') statements.push(initialRangePartitionsSql(family));
  return statements;
}
