import { sql } from 'drizzle-orm';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { PgpartsError } from '../../errors.js';
import type { AnyPgDatabase } from '../../run/database.js';
import { quoteIdent, quoteQualified } from '../../sql/identifiers.js';
import {
  appTriggers,
  checkConstraints,
  type DependentView,
  dependentViews,
  type ExternalForeignKey,
  externalForeignKeys,
  hasUniqueKeyOn,
  viewsIn,
} from './legacy-catalog.js';
import { dropViewSql, type OwnedSequence, ownedSequences, recreateViewSql } from './moves.js';
import { twinSchema } from './names.js';
import { executePlan, type PlannedStatement } from './planned.js';
import { query } from './run-sql.js';
import { type ConversionTarget, createdObject } from './target.js';

/**
 * What the swap needs to be possible, checked by prep before the conversion's first change and
 * again by the swap itself: views only in the family's schema, every foreign key from another
 * table referencing a key the partitioned table will have, the role owning every object the
 * swap moves or alters, and every view on the legacy tables holding on the partitioned ones.
 */
export interface SwapInputs {
  views: DependentView[];
  fks: ExternalForeignKey[];
  sequences: OwnedSequence[];
}

export async function swapInputs(
  db: AnyPgDatabase,
  target: ConversionTarget,
  step: string,
): Promise<SwapInputs> {
  const family = target.family;
  const views = await dependentViews(db, family.schema, family.tables);
  const elsewhere = views.filter((v) => v.schema !== family.schema);
  if (elsewhere.length > 0) {
    throw new PgpartsError(
      'refused',
      `pgparts: views outside schema ${family.schema} read the tables of ${family.name}: ` +
        `${elsewhere.map((v) => `${v.schema}.${v.name}`).join(', ')}; drop them and re-create them after the swap`,
      { step, docs: 'docs/postgres-behaviours.md#views-bind-to-tables' },
    );
  }
  const fks = await externalForeignKeys(db, family.schema, family.tables);
  const sequences = await ownedSequences(db, family.schema, family.tables);
  await checkOwnership(db, target, { views, fks, sequences }, step);
  return { views, fks, sequences };
}

/**
 * The swap moves the tables, views and sequences (ALTER ... SET SCHEMA, OWNED BY) and re-points
 * the foreign keys of other tables: each needs the role to own the object (or be a member of its
 * owner). Refused up front rather than failing under the swap's lock.
 */
async function checkOwnership(
  db: AnyPgDatabase,
  target: ConversionTarget,
  inputs: SwapInputs,
  step: string,
): Promise<void> {
  const family = target.family;
  const names = [
    ...family.tables.map((t) => quoteQualified(family.schema, t)),
    ...inputs.views.map((v) => quoteQualified(v.schema, v.name)),
    ...inputs.sequences.map((s) => quoteQualified(s.schema, s.name)),
    ...inputs.fks.map((fk) => fk.table),
  ];
  const rows = await query<{ name: string; owner: string }>(
    db,
    sql`SELECT x.name, pg_get_userbyid(c.relowner) AS owner
        FROM jsonb_array_elements_text(${JSON.stringify([...new Set(names)])}::jsonb) x(name)
        JOIN pg_class c ON c.oid = to_regclass(x.name)
        WHERE NOT pg_has_role(current_user, c.relowner, 'USAGE')
        ORDER BY 1`,
  );
  if (rows.length > 0) {
    throw new PgpartsError(
      'refused',
      `pgparts: convert ${family.name}: the swap moves or alters ${rows.map((r) => `${r.name} (owner ${r.owner})`).join(', ')}, ` +
        'which the current role does not own; run the conversion as their owner (or a member of it). Nothing was changed',
      { step, docs: 'docs/privileges.md' },
    );
  }
}

/** Every foreign key from another table must reference a unique key of the partitioned table in `schema`. */
export async function checkForeignKeys(
  db: AnyPgDatabase,
  target: ConversionTarget,
  fks: readonly ExternalForeignKey[],
  schema: string,
  step: string,
): Promise<void> {
  for (const fk of fks) {
    if (!(await hasUniqueKeyOn(db, schema, fk.referenced, fk.referencedColumns))) {
      throw new PgpartsError(
        'spec-mismatch',
        `pgparts: ${fk.table} references ${fk.referenced} (${fk.referencedColumns.join(', ')}) through ` +
          `${fk.name}, but the partitioned ${fk.referenced} has no unique key on those columns ` +
          '(a foreign key needs a unique key, and on a partitioned table every unique key contains the partition key). ' +
          `Add ${target.family.partitionBy.column} to ${fk.table} and reference a key that ` +
          'contains it, then run the step again',
        {
          step,
          table: fk.table,
          docs: 'docs/postgres-behaviours.md#foreign-keys-reference-the-partition-key',
        },
      );
    }
  }
}

/**
 * The app's triggers on the legacy tables that their twins lack (the conversion copies none):
 * after the swap they would silently stop firing.
 */
export async function triggersTwinsLack(
  db: AnyPgDatabase,
  target: ConversionTarget,
): Promise<{ table: string; name: string }[]> {
  const family = target.family;
  const onTwins = new Set(
    (await appTriggers(db, twinSchema(family), family.tables)).map((t) => `${t.table}.${t.name}`),
  );
  return (await appTriggers(db, family.schema, family.tables)).filter(
    (t) => !onTwins.has(`${t.table}.${t.name}`),
  );
}

/**
 * The CHECK constraints of the legacy tables that their twins have neither by name nor by
 * definition (the twins are what the Drizzle tables declare). After the swap the partitioned
 * tables do not enforce them, and a row written then that breaks one stops an unswap, whose
 * replay writes it into the legacy table. The swap does not refuse them (the app may have
 * meant to drop them); prep says so.
 */
export async function checksTwinsLack(
  db: AnyPgDatabase,
  target: ConversionTarget,
): Promise<{ table: string; name: string; definition: string }[]> {
  const family = target.family;
  // Declared: prep makes them on the twins (which a dry run has not made yet).
  const declared = new Set(
    target.tables.flatMap((table) => {
      const config = getTableConfig(table);
      return config.checks.map((check) => `${config.name}.${check.name}`);
    }),
  );
  const onTwins = await checkConstraints(db, twinSchema(family), family.tables);
  return (await checkConstraints(db, family.schema, family.tables)).filter(
    (c) =>
      !declared.has(`${c.table}.${c.name}`) &&
      !onTwins.some(
        (t) => t.table === c.table && (t.name === c.name || t.definition === c.definition),
      ),
  );
}

/** An app trigger on a legacy table would silently stop firing after the swap: refuse. */
export async function checkTriggers(db: AnyPgDatabase, target: ConversionTarget): Promise<void> {
  const family = target.family;
  const twin = twinSchema(family);
  const missing = (await triggersTwinsLack(db, target)).map((t) => `${t.name} on ${t.table}`);
  if (missing.length > 0) {
    throw new PgpartsError(
      'refused',
      `pgparts: convert ${family.name} swap: the legacy tables have triggers the partitioned ones ` +
        `lack: ${missing.join(', ')}. Create them (same name) on the tables in ${twin}, or drop ` +
        'them, then run swap again; nothing was switched',
      { step: 'convert swap' },
    );
  }
}

/** Views into the twin schema: the legacy ones re-created against the twins, then the extras. */
export async function buildTwinViews(
  db: AnyPgDatabase,
  target: ConversionTarget,
  views: readonly DependentView[],
): Promise<PlannedStatement[]> {
  const family = target.family;
  const twin = twinSchema(family);
  const path = `${quoteIdent(twin)}, ${quoteIdent(family.schema)}`;
  // Left over from an earlier attempt: ours, rebuilt from the current definitions.
  const plan: PlannedStatement[] = (await viewsIn(db, twin)).map((v) => ({
    sql: dropViewSql(twin, v),
  }));
  const names = new Set<string>();
  for (const view of views) {
    names.add(view.name);
    for (const statement of recreateViewSql(view, twin))
      plan.push({ sql: statement, searchPath: path });
  }
  for (const extra of target.extras) {
    const object = createdObject(extra);
    if (object.kind === 'index' && object.on && family.tables.includes(object.on)) continue; // prep's
    if (names.has(object.name)) continue;
    if (object.kind === 'index' && object.on && names.has(object.on)) {
      // An index of a view the legacy database already had: keep the legacy view's own indexes.
      continue;
    }
    names.add(object.name);
    plan.push({ sql: extra, searchPath: path });
  }
  return plan;
}

/** A view that does not hold on the partitioned tables: what to do, for prep and swap alike. */
export function viewRefusal(error: unknown, step: string, what: string): PgpartsError {
  return new PgpartsError(
    'refused',
    `${error instanceof Error ? error.message : String(error)}\nA view on the legacy tables does not ` +
      'hold on the partitioned ones (e.g. it groups by the legacy primary key alone, which is no longer a key there). ' +
      `${what}: change the view in the live database, then run ${step.replace('convert ', '')} again`,
    {
      cause: error,
      step,
      docs: 'docs/postgres-behaviours.md#unique-keys-include-the-partition-key',
    },
  );
}

class TrialDone extends Error {}

/**
 * Every column the legacy table and its twin share has one type, typmod included: the fill copies
 * each value into the twin's type, and a declared `integer` for a legacy `numeric(12,2)` would
 * round 1.40 to 1, a `timestamp` for a `timestamptz` drop the zone, a `varchar(10)` cut text, and
 * the swap would put the changed values in service. Read from the catalog (the twins as the trial
 * made them), so names of types compare as the server spells them.
 */
async function checkColumnTypes(
  db: AnyPgDatabase,
  target: ConversionTarget,
  step: string,
): Promise<void> {
  const family = target.family;
  const problems: string[] = [];
  for (const table of family.tables) {
    const rows = await query<{ name: string; legacy: string; twin: string }>(
      db,
      sql`SELECT l.attname AS name, format_type(l.atttypid, l.atttypmod) AS legacy,
                 format_type(w.atttypid, w.atttypmod) AS twin
          FROM pg_attribute l
          JOIN pg_attribute w ON w.attrelid = to_regclass(${quoteQualified(twinSchema(family), table)})
           AND w.attname = l.attname AND w.attnum > 0 AND NOT w.attisdropped
          WHERE l.attrelid = to_regclass(${quoteQualified(family.schema, table)})
            AND l.attnum > 0 AND NOT l.attisdropped
            AND (l.atttypid, l.atttypmod) IS DISTINCT FROM (w.atttypid, w.atttypmod)
          ORDER BY l.attnum`,
    );
    for (const r of rows) {
      problems.push(
        `${family.schema}.${table}.${r.name} is ${r.legacy}; the Drizzle table declares ${r.twin}`,
      );
    }
  }
  if (problems.length > 0) {
    throw new PgpartsError(
      'spec-mismatch',
      `pgparts: ${step}: family ${family.name}: the copy would convert values into other types ` +
        `(rounded, cut or shifted): ${problems.join('; ')}. Declare each column with its legacy ` +
        'type (or change the legacy column first); nothing was changed',
      { step },
    );
  }
}

/**
 * Prep's proof that the swap will go through, before anything changes: in one transaction that
 * is always rolled back, builds the twins (`twinDdl`, the statements prep would run), re-creates
 * every view on them as the swap will, and checks each foreign key of another table against the
 * twins' unique keys. Nothing of it remains.
 */
export async function trialSwap(
  db: AnyPgDatabase,
  target: ConversionTarget,
  twinDdl: readonly PlannedStatement[],
  inputs: SwapInputs,
): Promise<void> {
  const step = 'convert prep';
  try {
    await db.transaction(async (tx) => {
      const t = tx as unknown as AnyPgDatabase;
      await executePlan(t, twinDdl, `convert ${target.family.name} prep (trial of the swap)`);
      await checkColumnTypes(t, target, step);
      await checkForeignKeys(t, target, inputs.fks, twinSchema(target.family), step);
      const views = await buildTwinViews(t, target, inputs.views);
      try {
        await executePlan(t, views, `convert ${target.family.name} prep (trial of the views)`);
      } catch (error) {
        throw viewRefusal(error, step, 'Nothing was changed');
      }
      throw new TrialDone();
    });
  } catch (error) {
    if (error instanceof TrialDone) return;
    throw error;
  }
}
