import { isAlignedRange } from './bounds.js';
import { intervalStart } from './intervals.js';
import { keyLabel, type PartitionKey } from './partition-key.js';
import { type FamilySpec, listValueType } from './spec.js';

/**
 * Checks of a key given to drain, retire or reattach that need no database. Years outside
 * 1900..9999 are refused: JavaScript's Date.UTC reads years 0-99 as 1900-1999 (`0026-11` became
 * November 1926), and PostgreSQL prints years past 9999 in a form the bound parser does not read.
 */
export const MIN_KEY_YEAR = 1900;
export const MAX_KEY_YEAR = 9999;

/** Why `key` cannot be a key of `family`, or undefined when its shape is fine. */
export function keyShapeProblem(family: FamilySpec, key: PartitionKey): string | undefined {
  const spec = family.partitionBy;
  if (key.kind === 'default') return 'DEFAULT is not a key';
  if (key.kind !== spec.strategy) {
    return `a ${key.kind.toUpperCase()} key on a ${spec.strategy.toUpperCase()} family`;
  }
  if (key.kind === 'list' && spec.strategy === 'list') {
    if (listValueType(spec) === 'text') {
      return typeof key.value === 'string' ? undefined : `${key.value} is not a text value`;
    }
    return typeof key.value === 'number' && Number.isSafeInteger(key.value)
      ? undefined
      : `${JSON.stringify(key.value)} is not an integer`;
  }
  if (key.kind !== 'range' || spec.strategy !== 'range') return undefined;
  if (Number.isNaN(key.from.getTime()) || Number.isNaN(key.to.getTime())) return 'not a date';
  const year = key.from.getUTCFullYear();
  const lastYear = new Date(key.to.getTime() - 1).getUTCFullYear();
  if (year < MIN_KEY_YEAR || lastYear > MAX_KEY_YEAR) {
    return `year ${year} is outside ${MIN_KEY_YEAR}..${MAX_KEY_YEAR}`;
  }
  if (!isAlignedRange(spec.interval, key)) {
    return `${keyLabel(key)} is not one ${spec.interval} starting at a ${spec.interval} boundary`;
  }
  return undefined;
}

/** The values a column of this type holds (format_type's text), for integer types; else undefined. */
export function integerTypeRange(type: string | null): { min: bigint; max: bigint } | undefined {
  switch (type) {
    case 'smallint':
      return { min: -32768n, max: 32767n };
    case 'integer':
      return { min: -2147483648n, max: 2147483647n };
    case 'bigint':
      return { min: -9223372036854775808n, max: 9223372036854775807n };
    default:
      return undefined;
  }
}

/** A RANGE key that is the interval holding `now` or one after it. */
export function isCurrentOrFuture(family: FamilySpec, key: PartitionKey, now: Date): boolean {
  const spec = family.partitionBy;
  if (key.kind !== 'range' || spec.strategy !== 'range') return false;
  return key.to.getTime() > intervalStart(spec.interval, now).getTime();
}

/** A LIST value the spec lists in `values`: it always gets partitions. */
export function isDeclaredValue(family: FamilySpec, key: PartitionKey): boolean {
  const spec = family.partitionBy;
  return key.kind === 'list' && spec.strategy === 'list' && spec.values.includes(key.value);
}
