import { sql } from 'drizzle-orm';
import { readRetiredKey } from '../catalog/retired-keys.js';
import { intervalStart } from '../define/intervals.js';
import {
  integerTypeRange,
  isCurrentOrFuture,
  isDeclaredValue,
  keyShapeProblem,
} from '../define/key-checks.js';
import { keyLabel, type PartitionKey, partitionName } from '../define/partition-key.js';
import { premakeEnd } from '../define/range-window.js';
import type { FamilySpec } from '../define/spec.js';
import { PgpartsError } from '../errors.js';
import type { AnyPgDatabase } from '../run/database.js';
import { query } from '../run/execute.js';
import { inShortTransaction, type ShortTransactionOptions } from '../run/lock-timeout.js';
import { quoteQualified } from '../sql/identifiers.js';
import { keyPredicateSql } from '../sql/key-predicate.js';
import { textLiteral } from '../sql/literals.js';

/**
 * The checks every key operation runs before its first change, so a typo changes nothing:
 * the key's shape (kind, sane year, aligned interval), the key column's integer range, and:
 * - drain: the key is declared (`values`, a row of `valuesFrom`, RANGE: the premake window) or
 *   some table of the family holds a row or a partition for it; otherwise a drain would only
 *   create empty partitions for a value nobody asked for;
 * - retire: never the current or a future interval, nor a value the spec lists, unless forced;
 *   and some table of the family has a partition of the key, or the key is recorded as retired
 *   (a re-run is a success), else there is nothing to retire: a typo, as for a drain.
 */

export type KeyOperationKind = 'drain' | 'retire' | 'reattach' | 'unretire';

export interface KeyCheckOptions {
  /** retire: allow the current and future intervals and declared values. */
  force?: boolean;
  /** An interrupted run of the same operation is being resumed: the key was accepted then. */
  resuming?: boolean;
  /** drain: the lock_timeout and retries of its reads of the family's tables. */
  lock?: Omit<ShortTransactionOptions, 'what'>;
  /**
   * retire: a step apply planned from the partitions it read; one gone since (a race) is
   * nothing to do for the run, not a typo.
   */
  planned?: boolean;
}

function refuse(
  code: 'invalid-input' | 'refused',
  operation: KeyOperationKind,
  family: FamilySpec,
  key: PartitionKey,
  why: string,
): PgpartsError {
  const label = key.kind === 'range' && Number.isNaN(key.from.getTime()) ? '?' : keyLabel(key);
  return new PgpartsError(
    code,
    `${operation}: family ${family.name}, key ${label}: ${why}; nothing was changed`,
    { step: operation, table: `${family.schema}.${family.tables[0]}` },
  );
}

export async function checkKey(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  operation: KeyOperationKind,
  options: KeyCheckOptions = {},
): Promise<void> {
  const shape = keyShapeProblem(family, key);
  if (shape) throw refuse('invalid-input', operation, family, key, shape);
  const first = `${family.schema}.${family.tables[0]}`;
  // The key column's type and the server's clock (a retire's check needs it) in one read, its
  // values as literals: a statement sent once per operation, which a parameterized one would cost
  // postgres.js a round trip of its own to describe first.
  const [read] = await query<{ type: string | null; ms: number | string }>(
    db,
    `SELECT (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
             WHERE a.attrelid = to_regclass(${textLiteral(quoteQualified(family.schema, family.tables[0] ?? ''))})
               AND a.attname = ${textLiteral(family.partitionBy.column)} AND NOT a.attisdropped) AS type,
            (extract(epoch FROM now()) * 1000)::float8 AS ms`,
  );
  const column = read?.type ? { type: read.type } : undefined;
  if (!column) {
    throw new PgpartsError(
      'spec-mismatch',
      `${operation}: table ${first} or its column ${family.partitionBy.column} does not exist; run migrations first`,
      { step: operation, table: first },
    );
  }
  const range = integerTypeRange(column.type);
  if (key.kind === 'list' && typeof key.value === 'number' && range) {
    const value = BigInt(key.value);
    if (value < range.min || value > range.max) {
      throw refuse(
        'invalid-input',
        operation,
        family,
        key,
        `${family.partitionBy.column} is ${column.type}, which holds ${range.min}..${range.max}`,
      );
    }
  }
  if (options.resuming) return;
  if (operation === 'drain') await checkDrainable(db, family, key, options.lock ?? {});
  if (operation === 'retire' && !options.force) {
    const now = new Date(Number(read?.ms));
    if (isCurrentOrFuture(family, key, now)) {
      throw refuse(
        'refused',
        'retire',
        family,
        key,
        `it is the current or a future ${family.partitionBy.strategy === 'range' ? family.partitionBy.interval : 'interval'} ` +
          `(the server's clock says ${now.toISOString()}); rows are being written there. Pass force: true ` +
          '(--force) if this is really meant',
      );
    }
    if (isDeclaredValue(family, key)) {
      throw refuse(
        'refused',
        'retire',
        family,
        key,
        'the spec lists it in `values`, so it always gets partitions; remove it from the spec or pass force: true (--force)',
      );
    }
  }
  if (operation === 'retire' && !options.planned) await checkRetirable(db, family, key);
}

/** A retire must have something to retire, or have retired it already. */
async function checkRetirable(db: AnyPgDatabase, family: FamilySpec, key: PartitionKey) {
  const partitions = family.tables.map(
    (table) =>
      `to_regclass(${textLiteral(quoteQualified(family.schema, partitionName(family, table, key)))}) IS NOT NULL`,
  );
  const [row] = await query<{ ok: boolean }>(db, `SELECT (${partitions.join(' OR ')}) AS ok`);
  if (row?.ok) return;
  if (await readRetiredKey(db, family, keyLabel(key))) return;
  throw refuse(
    'invalid-input',
    'retire',
    family,
    key,
    'no table of the family has a partition of it, and it is not recorded as retired: ' +
      'there is nothing to retire (a typo?)',
  );
}

const CHECK_READ = "checking the drain's key (the family's tables are read for its rows)";

/** A drain must have something to do: a declared key, or rows or partitions for it somewhere. */
async function checkDrainable(
  db: AnyPgDatabase,
  family: FamilySpec,
  key: PartitionKey,
  lock: Omit<ShortTransactionOptions, 'what'>,
) {
  // Its reads of the family's tables (and valuesFrom's) wait for a lock like any other read:
  // lock_timeout, retries, then a lock-timeout error, never for as long as another session holds it.
  const read = <T>(statement: string) =>
    inShortTransaction(db, { ...lock, what: `${CHECK_READ} (${family.name})` }, (tx) =>
      query<T>(tx, statement),
    );
  const spec = family.partitionBy;
  if (isDeclaredValue(family, key)) return;
  if (key.kind === 'list' && spec.strategy === 'list' && spec.valuesFrom) {
    const source = spec.valuesFrom;
    const [found] = await read<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${quoteQualified(source.schema, source.table)} WHERE ${keyPredicateSql(
        { ...family, partitionBy: { ...spec, column: source.column } },
        key,
      )}) AS ok`,
    );
    if (found?.ok) return;
  }
  if (key.kind === 'range' && spec.strategy === 'range') {
    const [clock] = await query<{ ms: number | string }>(
      db,
      sql`SELECT (extract(epoch FROM now()) * 1000)::float8 AS ms`,
    );
    const now = new Date(Number(clock?.ms));
    const windowEnd = premakeEnd(family, now);
    if (windowEnd && key.from >= intervalStart(spec.interval, now) && key.to <= windowEnd) return;
  }
  for (const table of family.tables) {
    const [row] = await read<{ ok: boolean; exists: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM ${quoteQualified(family.schema, table)} WHERE ${keyPredicateSql(family, key)}) AS ok,
              to_regclass(${textLiteral(quoteQualified(family.schema, partitionName(family, table, key)))}) IS NOT NULL AS exists`,
    );
    if (row?.ok || row?.exists) return;
  }
  const declared =
    spec.strategy === 'list'
      ? `not in the spec's values${spec.valuesFrom ? ` nor a row of ${spec.valuesFrom.schema}.${spec.valuesFrom.table}` : ''}`
      : `outside the premake window`;
  throw refuse(
    'invalid-input',
    'drain',
    family,
    key,
    `it is ${declared}, and no table of the family holds a row or a partition for it: a drain would ` +
      'only create empty partitions (a typo?)',
  );
}
