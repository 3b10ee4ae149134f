import { MANAGED_MARKER } from '../define/marker.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import { quoteIdent, quoteQualified } from './identifiers.js';
import { keyCheckSql } from './key-predicate.js';
import { dollarQuoted, listValueLiteral, textLiteral, utcTimestampLiteral } from './literals.js';
import { OWNED_TABLES, recordOwnedRowSql, recordOwnedSql } from './ownership.js';
import { type StatisticsTarget, statisticsTargetsSql } from './statistics-targets.js';

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

/** A table by schema and name, unquoted. */
export interface TableName {
  schema: string;
  name: string;
}

/**
 * What the live database says about the neighbours of the table a partition is created for:
 * its DEFAULT partition, the tables its foreign keys reference, and the tables whose foreign
 * keys reference it. ATTACH locks all of them; the create step takes those locks itself, first,
 * in the documented order (docs/locking.md).
 */
export interface CreateLocks {
  defaultPartition?: TableName | null;
  referencedTables?: readonly TableName[];
  referencingTables?: readonly TableName[];
}

/** The CHECK a new partition carries until it is attached: ATTACH finds it and skips its scan. */
export const ATTACH_BOUND_CHECK = 'pgparts_partition_bound';

/**
 * The locks a create step takes before its DDL, in the one order every pgparts operation uses
 * (docs/locking.md): tables its foreign keys reference (SHARE ROW EXCLUSIVE, with their
 * partitions), the parent (SHARE UPDATE EXCLUSIVE: writers go on), the tables whose foreign
 * keys reference the parent (SHARE ROW EXCLUSIVE, that table only), and last its DEFAULT
 * partition (ACCESS EXCLUSIVE: ATTACH proves DEFAULT holds no row of the new bound). DEFAULT
 * comes last because it is the lock writers contend for most: every foreign key check into the
 * family reads it, so holding it while waiting for the next lock is what made attempts collide.
 * Each lock waits at most lock_timeout, shorter than deadlock_timeout, so when an app
 * transaction and this step wait on each other the step gives up first and retries.
 */
export function createLocksSql(family: FamilySpec, table: string, locks: CreateLocks): string[] {
  const statements: string[] = [];
  for (const t of locks.referencedTables ?? []) {
    statements.push(`LOCK TABLE ${quoteQualified(t.schema, t.name)} IN SHARE ROW EXCLUSIVE MODE`);
  }
  statements.push(
    `LOCK TABLE ONLY ${quoteQualified(family.schema, table)} IN SHARE UPDATE EXCLUSIVE MODE`,
  );
  for (const t of locks.referencingTables ?? []) {
    statements.push(
      `LOCK TABLE ONLY ${quoteQualified(t.schema, t.name)} IN SHARE ROW EXCLUSIVE MODE`,
    );
  }
  if (locks.defaultPartition) {
    const d = locks.defaultPartition;
    statements.push(`LOCK TABLE ${quoteQualified(d.schema, d.name)} IN ACCESS EXCLUSIVE MODE`);
  }
  return statements;
}

/**
 * A table pgparts makes for a parent another role owns (the role running it is a member of the
 * owner's role) goes to that owner: made by the running role, it would be that role's, and the
 * owner's own migrations (ALTER TABLE on the parent recurses into every partition) would then be
 * refused on it. Nothing when the running role owns the parent.
 */
export function ownerSql(qualified: string, owner: string | null | undefined): string[] {
  return owner ? [`ALTER TABLE ${qualified} OWNER TO ${quoteIdent(owner)}`] : [];
}

/**
 * A parent created in a tablespace gives it to the partitions CREATE TABLE ... PARTITION OF
 * makes; a table pgparts creates standalone and attaches (a partition, a drain's staging table, a
 * swap's new DEFAULT) went to default_tablespace instead. Nothing when the parent names none.
 * Run in the transaction that creates the table, before its CREATE TABLE.
 */
export function tablespaceSql(tablespace: string | null | undefined): string[] {
  return tablespace ? [`SET LOCAL default_tablespace = ${quoteIdent(tablespace)}`] : [];
}

/**
 * What a table pgparts creates to become a partition takes from the parent beyond LIKE: the
 * parent's owner when another role owns it, its tablespace, its columns' statistics targets.
 */
export interface ParentShape {
  owner?: string | null | undefined;
  tablespace?: string | null | undefined;
  statisticsTargets?: readonly StatisticsTarget[] | undefined;
}

/**
 * The statements that create one partition of one table and mark it as pgparts's own, without
 * ever taking ACCESS EXCLUSIVE on the parent (which CREATE TABLE ... PARTITION OF does, blocking
 * writers of every partition and, with foreign keys between parents, deadlocking with them):
 * the table is created standalone, shaped like the parent; a CHECK equal to the bound spares
 * ATTACH its scan of it; ATTACH PARTITION (SHARE UPDATE EXCLUSIVE on the parent) then builds
 * its indexes and foreign keys as PARTITION OF would, and turns its columns and constraints
 * into inherited ones; the CHECK goes. With `locks`, the step first takes every lock ATTACH
 * needs, in the documented order. The result is catalog-identical to a PARTITION OF.
 */
export function createPartitionSql(
  family: FamilySpec,
  table: string,
  key: PartitionKey,
  locks?: CreateLocks,
  parentShape: ParentShape = {},
): string[] {
  const name = partitionName(family, table, key);
  const qualified = quoteQualified(family.schema, name);
  const parent = quoteQualified(family.schema, table);
  const check = quoteIdent(ATTACH_BOUND_CHECK);
  // DEFAULT has no bound to state as a CHECK; attaching an empty DEFAULT scans nothing anyway.
  const bounded = key.kind !== 'default';
  return [
    ...(locks ? createLocksSql(family, table, locks) : []),
    ...tablespaceSql(parentShape.tablespace),
    `CREATE TABLE ${qualified} (LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMPRESSION)`,
    ...ownerSql(qualified, parentShape.owner),
    ...statisticsTargetsSql(qualified, parentShape.statisticsTargets),
    ...(bounded
      ? [`ALTER TABLE ${qualified} ADD CONSTRAINT ${check} CHECK (${keyCheckSql(family, key)})`]
      : []),
    `ALTER TABLE ${parent} ATTACH PARTITION ${qualified} ${boundSpecSql(key)}`,
    ...(bounded ? [`ALTER TABLE ${qualified} DROP CONSTRAINT ${check}`] : []),
    `COMMENT ON TABLE ${qualified} IS ${textLiteral(MANAGED_MARKER)}`,
  ];
}

/** The CHECK a DEFAULT partition carries while a partition is created: ATTACH skips its scan. */
export const DEFAULT_EXCLUDES_CHECK = 'pgparts_default_excludes_new_key';

/**
 * The statements that spare ATTACH its scan of a DEFAULT partition that holds rows. ATTACH must
 * prove DEFAULT holds no row of the new bound; it skips its scan when DEFAULT carries a valid
 * CHECK that excludes the bound, and otherwise scans DEFAULT while holding ACCESS EXCLUSIVE on
 * it, so every writer into DEFAULT waits for the whole scan. So, before the create's
 * transaction, each in its own short transaction: the CHECK is added NOT VALID (catalog only,
 * a moment of ACCESS EXCLUSIVE; it replaces one an interrupted create left), then validated
 * (the scan, under SHARE UPDATE EXCLUSIVE: writers go on). The create's transaction drops it
 * after its ATTACH (`drop`); `cleanup` drops it when the step fails. While it exists, a row of
 * the new key written through the parent fails instead of landing in DEFAULT, where it would
 * have made the ATTACH fail (docs/locking.md).
 */
export function defaultExclusionSql(
  family: FamilySpec,
  key: PartitionKey,
  defaultPartition: TableName,
): { prepare: string[]; drop: string; cleanup: string } {
  const target = quoteQualified(defaultPartition.schema, defaultPartition.name);
  const check = quoteIdent(DEFAULT_EXCLUDES_CHECK);
  return {
    prepare: [
      `ALTER TABLE ${target} DROP CONSTRAINT IF EXISTS ${check}, ADD CONSTRAINT ${check} CHECK (NOT (${keyCheckSql(family, key)})) NOT VALID`,
      `ALTER TABLE ${target} VALIDATE CONSTRAINT ${check}`,
    ],
    drop: `ALTER TABLE ${target} DROP CONSTRAINT ${check}`,
    cleanup: `ALTER TABLE ${target} DROP CONSTRAINT IF EXISTS ${check}`,
  };
}

/**
 * CREATE TABLE ... PARTITION OF, for migrations only: they run before the app writes (and their
 * text is fixed once generated), where the parent's ACCESS EXCLUSIVE lock harms nobody.
 */
export function createPartitionOfSql(
  family: FamilySpec,
  table: string,
  key: PartitionKey,
): string[] {
  const name = partitionName(family, table, key);
  const qualified = quoteQualified(family.schema, name);
  return [
    `CREATE TABLE ${qualified} PARTITION OF ${quoteQualified(family.schema, table)} ${boundSpecSql(key)}`,
    `COMMENT ON TABLE ${qualified} IS ${textLiteral(MANAGED_MARKER)}`,
  ];
}

/**
 * Records a partition a migration just created as pgparts's own, where the family's schema has
 * the ownership record already (the family was carried over: its comment no longer adopts it).
 * Before that, the carry-over adopts it by its comment and name like every other partition.
 */
export function recordMigratedPartitionSql(
  family: FamilySpec,
  table: string,
  key: PartitionKey,
): string {
  const record = recordOwnedSql({
    schema: family.schema,
    family: family.name,
    parent: table,
    name: partitionName(family, table, key),
    key: keyLabel(key),
    role: 'partition',
  });
  return `DO ${dollarQuoted(` BEGIN IF to_regclass(${textLiteral(quoteQualified(family.schema, OWNED_TABLES))}) IS NOT NULL THEN\n${record};\nEND IF; END `)}`;
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
 * intervals back through `premake` ahead, every table of the family (or only `tables`),
 * referenced first. The bounds are computed in UTC and written with an explicit offset, so the
 * block means the same in any session TimeZone. It only fills what is missing; the engine keeps
 * the window rolling. With `recordOwned`, each partition it creates is also recorded as
 * pgparts-owned when the family's ownership table exists (a table added to a family whose
 * partitions were already carried over: no later carry-over would adopt them).
 */
export function initialRangePartitionsSql(
  family: FamilySpec,
  options: { tables?: readonly string[]; recordOwned?: boolean } = {},
): string {
  const p = family.partitionBy;
  if (p.strategy !== 'range')
    throw new PgpartsError('internal', 'pgparts: initial range partitions on a LIST family');
  if (!p.naming.startsWith('{table}') || p.naming.split('{suffix}').length !== 2) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: family ${family.name}: its migration creates the first partitions when it runs, ` +
        `which needs a naming scheme that starts with {table} and has {suffix} once ` +
        `(${JSON.stringify(p.naming)} does not)`,
    );
  }
  // The block builds each name when it runs, where PostgreSQL would cut one over 63 bytes (and
  // find the cut name taken by the interval before). A suffix has one length per interval:
  // partitionName refuses a name too long now, whatever date it is for.
  const sample: PartitionKey = { kind: 'range', from: new Date(0), to: new Date(0) };
  for (const table of options.tables ?? family.tables) partitionName(family, table, sample);
  const [prefix = '', after = ''] = p.naming.replace('{table}', '').split('{suffix}');
  const tables = (options.tables ?? family.tables).map((t) => textLiteral(t)).join(', ');
  const unit = `1 ${p.interval}`;
  const owned = textLiteral(quoteQualified(family.schema, OWNED_TABLES));
  // The key label is the one keyLabel gives a RANGE key: its UTC dates, `from..to`.
  const record = options.recordOwned
    ? `
        IF to_regclass(${owned}) IS NOT NULL THEN
          ${recordOwnedRowSql(family.schema, {
            relid: `format('%I.%I', ${textLiteral(family.schema)}, part)::regclass`,
            schema: textLiteral(family.schema),
            name: 'part',
            family: textLiteral(family.name),
            parent: 'parent',
            key: `to_char(start_at, 'YYYY-MM-DD') || '..' || to_char(start_at + interval ${textLiteral(unit)}, 'YYYY-MM-DD')`,
            role: textLiteral('partition'),
            how: textLiteral('created'),
          }).replaceAll('\n', '\n          ')};
        END IF;`
    : '';
  return `DO ${dollarQuoted(`
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
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', ${textLiteral(family.schema)}, part, ${textLiteral(MANAGED_MARKER)});${record}
      END IF;
    END LOOP;
  END LOOP;
END
`)}`;
}

/**
 * What a fresh install needs beyond drizzle-kit's CREATE TABLEs: the DEFAULT partitions, and for
 * RANGE families the partitions around the migration's own date. Referenced tables come first.
 */
export function familyMigrationSql(family: FamilySpec): string[] {
  const statements: string[] = [];
  if (family.defaultPartition) {
    for (const table of family.tables) {
      statements.push(...createPartitionOfSql(family, table, { kind: 'default' }));
    }
  }
  if (family.partitionBy.strategy === 'range') statements.push(initialRangePartitionsSql(family));
  return statements;
}
