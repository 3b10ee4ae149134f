import { is } from 'drizzle-orm';
import { toCamelCase, toSnakeCase } from 'drizzle-orm/casing';
import { getTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import { PgpartsError } from '../errors.js';
import { identifierSchema } from '../sql/identifiers.js';
import { INTERVALS } from './intervals.js';
import { listValueTypeOfColumn } from './key-type-names.js';
import {
  defaultPartitionName,
  listPartitionName,
  type NamedPartition,
  partitionNameClashes,
} from './naming.js';

/**
 * Partition specs: what a family of tables should look like. A family is a set of tables that
 * share the partition key and the same bounds and are linked by composite foreign keys; `tables`
 * lists them referenced-first (the engine creates in that order and removes in reverse).
 */

/** Where archive mode puts retired partitions when the spec names no schema. */
export const DEFAULT_ARCHIVE_SCHEMA = 'pgparts_archive';

const retentionSchema = z
  .object({
    /** How many intervals (RANGE) or newest list values (LIST) to keep; older ones are removed. */
    keep: z
      .number({ error: 'expected a whole number of 1 or more' })
      .int({ error: 'expected a whole number of 1 or more' })
      .positive({ error: 'expected a whole number of 1 or more' }),
    /** drop the partitions, or detach them into `archiveSchema` and keep them. */
    mode: z.enum(['drop', 'archive']).default('drop'),
    archiveSchema: identifierSchema.default(DEFAULT_ARCHIVE_SCHEMA),
  })
  .strict();

const listSchema = z
  .object({
    strategy: z.literal('list'),
    column: identifierSchema,
    /** Where the values come from: every row of this table/column gets its partitions. */
    valuesFrom: z
      .object({
        schema: identifierSchema.default('public'),
        table: identifierSchema,
        column: identifierSchema,
      })
      .strict()
      .optional(),
    /**
     * `integer` (season ids, tenant numbers) or `text` (regions, tenant slugs). Default: text
     * when `values` holds strings, integer otherwise.
     */
    valueType: z.enum(['integer', 'text']).optional(),
    /** Values that always get partitions, in addition to `valuesFrom`. */
    values: z.array(z.union([z.number().int().safe(), z.string().min(1)])).default([]),
    /** Partition name; `{table}` and `{value}` are replaced. */
    naming: z
      .string()
      .refine((s) => s.includes('{table}') && s.includes('{value}'), {
        message: 'a LIST naming scheme must contain {table} and {value}',
      })
      .default('{table}_s{value}'),
  })
  .strict();

const rangeSchema = z
  .object({
    strategy: z.literal('range'),
    column: identifierSchema,
    interval: z.enum(INTERVALS, {
      error: (issue) =>
        `unknown interval ${JSON.stringify(issue.input)}: use one of ${INTERVALS.join(', ')}`,
    }),
    /** Intervals to create ahead of the current one. */
    premake: z.number().int().min(0, 'premake must be 0 or more').max(1000).default(3),
    /** Intervals before the current one that a fresh install creates (history to backfill). */
    past: z.number().int().min(0).max(1000).default(0),
    /** Partition name; `{table}` and `{suffix}` (2026_11, 2026_w47, 2026_11_21, 2026) are replaced. */
    naming: z
      .string()
      .refine((s) => s.includes('{table}') && s.includes('{suffix}'), {
        message: 'a RANGE naming scheme must contain {table} and {suffix}',
      })
      .default('{table}_{suffix}'),
  })
  .strict();

export const familySchema = z
  .object({
    name: identifierSchema,
    schema: identifierSchema.default('public'),
    /** Parent tables, referenced first. */
    tables: z.array(identifierSchema).min(1, 'a family needs at least one table'),
    partitionBy: z.discriminatedUnion('strategy', [listSchema, rangeSchema]),
    defaultPartition: z.boolean().default(false),
    retention: retentionSchema.optional(),
  })
  .strict()
  .superRefine((family, ctx) => {
    const p = family.partitionBy;
    if (p.strategy === 'list') {
      const type =
        p.valueType ?? (p.values.some((v) => typeof v === 'string') ? 'text' : 'integer');
      const wrong = p.values.filter((v) => (type === 'text') !== (typeof v === 'string'));
      if (wrong.length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['partitionBy', 'values'],
          message: `${type === 'integer' ? 'an' : 'a'} ${type} LIST cannot hold ${wrong.map((v) => JSON.stringify(v)).join(', ')}`,
        });
      }
      if (type === 'text' && family.retention) {
        ctx.addIssue({
          code: 'custom',
          path: ['retention'],
          message:
            'retention keeps the newest values of an integer LIST; text values have no order',
        });
      }
    }
    // A keep that failed its own check (said above) says nothing about `past`.
    const keep = family.retention?.keep;
    if (p.strategy === 'range' && keep !== undefined && keep >= 1 && p.past > keep) {
      ctx.addIssue({
        code: 'custom',
        path: ['partitionBy', 'past'],
        message: `past (${p.past}) reaches back beyond retention.keep (${keep}): apply would create what retention removes`,
      });
    }
    const seen = new Set<string>();
    for (const table of family.tables) {
      if (seen.has(table)) {
        ctx.addIssue({ code: 'custom', message: `table ${table} is listed twice` });
      }
      seen.add(table);
    }
    // The partitions the spec itself names (DEFAULT, declared LIST values), over every table:
    // refused here so generate writes no migration that fails with "already exists". Keys read
    // from the database (valuesFrom, the RANGE window) are checked by the plan the same way.
    const partitions: NamedPartition[] = [];
    for (const table of family.tables) {
      if (family.defaultPartition) {
        partitions.push({ table, name: defaultPartitionName(table), key: undefined });
      }
      if (p.strategy !== 'list') continue;
      for (const value of p.values) {
        partitions.push({
          table,
          name: listPartitionName(p.naming, table, value),
          key: String(value),
        });
      }
    }
    for (const message of partitionNameClashes(family.tables, partitions)) {
      ctx.addIssue({ code: 'custom', path: ['partitionBy'], message });
    }
  });

export type FamilySpecInput = z.input<typeof familySchema>;
export type FamilySpec = z.output<typeof familySchema>;
export type ListPartitioning = z.output<typeof listSchema>;

/** A LIST family's value type: declared, or text when `values` holds strings, else integer. */
export function listValueType(p: ListPartitioning): 'integer' | 'text' {
  return p.valueType ?? (p.values.some((v) => typeof v === 'string') ? 'text' : 'integer');
}
export type RangePartitioning = z.output<typeof rangeSchema>;
export type Retention = z.output<typeof retentionSchema>;

/** How an invalid spec is named in its error: `family "<name>"`, or `a family` without one. */
function familyNamed(input: unknown): string {
  return typeof input === 'object' && input !== null && 'name' in input
    ? `family ${JSON.stringify((input as { name: unknown }).name)}`
    : 'a family';
}

/** Turns zod's issues into one message that names the family and the offending field. */
function describeIssues(what: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(spec)';
    return `  - ${path}: ${issue.message}`;
  });
  return `pgparts: invalid partition spec for ${what}:\n${lines.join('\n')}`;
}

/** Validates a plain spec; throws one clear error listing every problem. */
/**
 * Specs parseFamily returned: frozen, so checking one again could only pass. A maintenance run
 * hands its specs to several functions that each validate what they are given; with this, the
 * schema runs once per spec instead of on every call.
 */
const validated = new WeakSet<object>();

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/**
 * While a config file is loaded (loadingConfig), partitionFamily returns a spec it refused as
 * this marker, carrying its error, instead of throwing: the config's other families are then
 * still declared, and the load reports every refused family at once (parseEach) rather than the
 * first one per run. Symbol.for and globalThis: the config may import another copy of pgparts
 * than the one loading it.
 */
const REFUSED = Symbol.for('pgparts.refusedFamily');
const LOADING_CONFIG = Symbol.for('pgparts.loadingConfig');

type RefusedFamily = { name: unknown; [REFUSED]: unknown };

function refusedError(input: unknown): PgpartsError | undefined {
  if (typeof input !== 'object' || input === null || !(REFUSED in input)) return undefined;
  const error = (input as RefusedFamily)[REFUSED];
  if (error instanceof PgpartsError) return error;
  return new PgpartsError('invalid-config', error instanceof Error ? error.message : String(error));
}

/** Runs `load` (a config file's import) with partitionFamily's refusals deferred (REFUSED). */
export async function loadingConfig<T>(load: () => Promise<T>): Promise<T> {
  const scope = globalThis as Record<symbol, number | undefined>;
  scope[LOADING_CONFIG] = (scope[LOADING_CONFIG] ?? 0) + 1;
  try {
    return await load();
  } finally {
    scope[LOADING_CONFIG] = (scope[LOADING_CONFIG] ?? 1) - 1;
  }
}

export function parseFamily(input: unknown): FamilySpec {
  if (typeof input === 'object' && input !== null && validated.has(input)) {
    return input as FamilySpec;
  }
  const refused = refusedError(input);
  if (refused) throw refused;
  if (holdsDrizzleTables(input)) return declareFamily(input);
  const result = familySchema.safeParse(input);
  if (!result.success) {
    throw new PgpartsError('invalid-config', describeIssues(familyNamed(input), result.error));
  }
  const spec = deepFreeze(result.data);
  validated.add(spec);
  return spec;
}

/**
 * Validates every spec of `inputs`; throws one error listing every invalid family (a config with
 * four bad families takes one run to see, not four).
 */
export function parseEach(inputs: readonly unknown[]): FamilySpec[] {
  const specs: FamilySpec[] = [];
  const errors: PgpartsError[] = [];
  for (const input of inputs) {
    try {
      specs.push(parseFamily(input));
    } catch (error) {
      if (!(error instanceof PgpartsError)) throw error;
      errors.push(error);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new PgpartsError(
      'invalid-config',
      `pgparts: ${errors.length} families are invalid:\n${errors.map((e) => e.message).join('\n')}`,
    );
  }
  return specs;
}

/**
 * A family's identity: its schema and name. pgparts's bookkeeping (retired keys, operations,
 * ownership) lives in the family's schema, keyed by this.
 */
export function familyIdentity(family: { schema: string; name: string }): string {
  return `${family.schema}.${family.name}`;
}

/**
 * Validates every spec of a config and refuses two families with the same name (even in
 * different schemas) or one table claimed by two families. Plans, reports and the CLI name a
 * family by its name alone, so two `events` families would be told apart by nothing a person
 * reads; and a step meant for one must never run against the other.
 */
export function parseFamilies(inputs: readonly unknown[]): FamilySpec[] {
  if (!Array.isArray(inputs)) {
    throw new PgpartsError(
      'invalid-config',
      `families must be an array of family specs, not ${inputs === null ? 'null' : typeof inputs}` +
        ' (one family: [family])',
    );
  }
  const families = parseEach(inputs);
  const byName = new Map<string, FamilySpec>();
  const byTable = new Map<string, FamilySpec>();
  for (const family of families) {
    const other = byName.get(family.name);
    if (other) {
      throw new PgpartsError(
        'invalid-config',
        `two families are named ${JSON.stringify(family.name)} (in schemas ${other.schema} and ` +
          `${family.schema}); family names must be unique across the config: rename one`,
      );
    }
    byName.set(family.name, family);
    for (const table of family.tables) {
      const qualified = `${family.schema}.${table}`;
      const owner = byTable.get(qualified);
      if (owner) {
        throw new PgpartsError(
          'invalid-config',
          `table ${qualified} is in two families (${owner.name} and ${family.name}); a table ` +
            'belongs to one family',
          { table: qualified },
        );
      }
      byTable.set(qualified, family);
    }
  }
  return families;
}

type FamilyWithTables = Omit<FamilySpecInput, 'tables'> & { tables: readonly PgTable[] };

/**
 * A plain spec whose `tables` are Drizzle tables (`tables: [appEvents]` without
 * partitionFamily): declared as partitionFamily declares it, names read from the tables.
 * `is` matches by drizzle's entity kind, so a table of another copy of drizzle-orm counts too.
 */
function holdsDrizzleTables(input: unknown): input is FamilyWithTables {
  const tables = (input as { tables?: unknown } | null)?.tables;
  return Array.isArray(tables) && tables.length > 0 && tables.every((t) => is(t, PgTable));
}

type TableColumn = ReturnType<typeof getTableConfig>['columns'][number];

/**
 * The names a column can have in the database: its own when the schema gives one, else its key
 * as is, or as drizzle's `casing` turns it (`viewedAt`: `viewed_at` under snake_case). Which
 * casing applies is drizzle.config's (and drizzle()'s), which the table does not know:
 * generate checks the name against drizzle-kit's snapshot.
 */
function databaseNames(column: TableColumn): string[] {
  if (!column.keyAsName) return [column.name];
  return [...new Set([column.name, toSnakeCase(column.name), toCamelCase(column.name)])];
}

function spellings(column: TableColumn): string {
  if (!column.keyAsName) return column.name;
  const snake = toSnakeCase(column.name);
  const camel = toCamelCase(column.name);
  const cased = [
    snake !== column.name ? `${snake} under casing: 'snake_case'` : '',
    camel !== column.name ? `${camel} under casing: 'camelCase'` : '',
  ].filter(Boolean);
  return cased.length > 0 ? `${column.name} (${cased.join(', ')})` : column.name;
}

/**
 * Declares a family from Drizzle tables, next to their definitions. Checks what only the Drizzle
 * objects know: every table has the partition column and lives in the family's schema, which is
 * the tables' own (a `pgSchema` table's) unless `schema` says otherwise. `partitionBy.column` is
 * the column's name in the database (its name in the schema, or for a column declared without
 * one its key as drizzle's casing turns it). Throws what it refuses, except while pgparts loads a
 * config file (loadingConfig): the load then reports it with every other refused family of the
 * config.
 */
export function partitionFamily(input: FamilyWithTables): FamilySpec {
  try {
    return declareFamily(input);
  } catch (error) {
    if (!(globalThis as Record<symbol, number | undefined>)[LOADING_CONFIG]) throw error;
    return { name: input?.name, [REFUSED]: error } as unknown as FamilySpec;
  }
}

/**
 * The shape partitionFamily reads before the full spec check: Drizzle tables (a JavaScript config
 * can pass anything; a table's name here gave a TypeError from inside drizzle-orm) and the
 * partition column.
 */
const withTablesSchema = z.looseObject({
  tables: z
    .array(
      z.custom<PgTable>((t) => is(t, PgTable), {
        error: (issue) =>
          typeof issue.input === 'string'
            ? `${JSON.stringify(issue.input)} is a table's name: partitionFamily takes the Drizzle tables (pgTable(...)); a spec that names its tables is a plain object, without partitionFamily`
            : 'not a Drizzle table (pgTable(...))',
      }),
    )
    .min(1, 'at least one Drizzle table'),
  partitionBy: z.looseObject({ column: z.string() }),
});

function declareFamily(input: FamilyWithTables): FamilySpec {
  const shape = withTablesSchema.safeParse(input);
  if (!shape.success) {
    throw new PgpartsError('invalid-config', describeIssues(familyNamed(input), shape.error));
  }
  const column = input.partitionBy.column;
  const names: string[] = [];
  const first = input.tables[0] ? (getTableConfig(input.tables[0]).schema ?? 'public') : 'public';
  const familySchema = input.schema ?? first;
  for (const table of input.tables) {
    const config = getTableConfig(table);
    if (!config.columns.some((c) => databaseNames(c).includes(column))) {
      throw new PgpartsError(
        'invalid-config',
        `pgparts: family ${JSON.stringify(input.name)}: table ${config.name} has no column ` +
          `${JSON.stringify(column)} to partition by; add it to the table (every table in a family ` +
          'carries the partition key) or fix partitionBy.column, which is the name in the ' +
          "database: the column's name in the schema, or, for a column declared without a name, " +
          "its key as drizzle's casing turns it. Its columns: " +
          `${config.columns.map(spellings).join(', ')}`,
      );
    }
    const schema = config.schema ?? 'public';
    if (schema !== familySchema) {
      throw new PgpartsError(
        'invalid-config',
        `pgparts: family ${JSON.stringify(input.name)}: table ${config.name} is in schema ` +
          `${schema}, the family in ${familySchema}; a family's tables share one schema ` +
          "(the family takes its tables' unless `schema` is given)",
      );
    }
    names.push(config.name);
  }
  return parseFamily({
    ...input,
    schema: familySchema,
    tables: names,
    partitionBy: withColumnValueType(input.partitionBy, input.tables[0]),
  });
}

/**
 * A LIST family whose values say nothing of their type (`valuesFrom`, or no values yet) and no
 * `valueType`: the type the Drizzle column has (text for a text or varchar column), instead of
 * the integer default a text column would then refuse.
 */
function withColumnValueType(
  partitionBy: FamilyWithTables['partitionBy'],
  table: PgTable | undefined,
): FamilyWithTables['partitionBy'] {
  if (partitionBy.strategy !== 'list' || partitionBy.valueType !== undefined) return partitionBy;
  if ((partitionBy.values ?? []).length > 0 || !table) return partitionBy;
  const column = getTableConfig(table).columns.find((c) =>
    databaseNames(c).includes(partitionBy.column),
  );
  const valueType = column ? listValueTypeOfColumn(column.getSQLType()) : undefined;
  return valueType ? { ...partitionBy, valueType } : partitionBy;
}
