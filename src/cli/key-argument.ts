import { InvalidArgumentError } from 'commander';
import { isAlignedRange } from '../define/bounds.js';
import { tableArgument } from '../define/command-words.js';
import { DAY_MS, intervalContaining, isoWeek } from '../define/intervals.js';
import { MAX_KEY_YEAR, MIN_KEY_YEAR } from '../define/key-checks.js';
import { keyFromLabel, type PartitionKey } from '../define/partition-key.js';
import { type FamilySpec, listValueType } from '../define/spec.js';

/** `--help` for `<table>`: what findFamily takes. */
export const TABLE_ARGUMENT_HELP =
  "any table of the family (leaderboard_run), as schema.table where two families' tables share a name, or the family's name";

/**
 * The family `<table>` names: a table of one family (`orders`), a table as `schema.table`
 * (`tenant_b.orders`: two families may each have a table of that name), or a family's name.
 */
export function findFamily(families: FamilySpec[], table: string): FamilySpec {
  const byTable = families.filter((f) => f.tables.includes(table));
  if (byTable.length > 1) {
    const names = byTable.map((f) => `${f.schema}.${table} (family ${f.name})`).join(', ');
    throw new InvalidArgumentError(
      `${table} is a table of more than one family: ${names}; name it as schema.table`,
    );
  }
  const found =
    byTable[0] ??
    families.find((f) => f.tables.some((t) => `${f.schema}.${t}` === table)) ??
    families.find((f) => f.name === table);
  if (found) return found;
  const known = families.flatMap((f) => f.tables.map((t) => tableArgument(f, t, families)));
  throw new InvalidArgumentError(
    `${table} is not a table of any declared family, as schema.table or alone, nor a family's name (${known.join(', ')})`,
  );
}

/**
 * `<table> <key>` as the drain, retire and reattach commands take them: the table names its
 * family; the key is a LIST value (`14`, or `eu-west` for a text LIST) or, for RANGE families, a date inside the interval
 * (`2025-06`, `2025-06-15`, `2025`; a week also as its partition names it, `2025-w23`; or the
 * interval as status prints it, `2025-06-01..2025-07-01`), read in UTC.
 */
export function resolveKey(
  families: FamilySpec[],
  table: string,
  key: string,
): { family: FamilySpec; key: PartitionKey } {
  const family = findFamily(families, table);
  const spec = family.partitionBy;
  if (spec.strategy === 'list' && listValueType(spec) === 'text') {
    return { family, key: { kind: 'list', value: key } };
  }
  if (spec.strategy === 'list') {
    if (!/^-?\d+$/.test(key) || !Number.isSafeInteger(Number(key))) {
      throw new InvalidArgumentError(
        `${table} is partitioned by a list of integers; ${JSON.stringify(key)} is not one`,
      );
    }
    return { family, key: { kind: 'list', value: Number(key) } };
  }
  // A key as status and the records print it (`2026-11-23..2026-11-24`): one interval exactly.
  if (/^\d{4}-\d{2}-\d{2}\.\.\d{4}-\d{2}-\d{2}$/.test(key)) {
    const labelled = keyFromLabel(family, key);
    if (labelled?.kind === 'range' && isAlignedRange(spec.interval, labelled)) {
      return { family, key: labelled };
    }
    throw new InvalidArgumentError(
      `${table} is partitioned by ${spec.interval}; ${JSON.stringify(key)} is not one ${spec.interval} ` +
        '(give a date in it, as YYYY-MM-DD)',
    );
  }
  // A week as its partition names it (`2026-w45`, ISO weeks): that week's Monday.
  const week = spec.interval === 'week' ? /^(\d{4})-w(\d{2})$/i.exec(key) : null;
  if (week) {
    const [year, number] = [Number(week[1]), Number(week[2])];
    const jan4 = Date.UTC(year, 0, 4);
    const monday = new Date(jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY_MS);
    const start = new Date(monday.getTime() + (number - 1) * 7 * DAY_MS);
    const found = isoWeek(start);
    if (
      year < MIN_KEY_YEAR ||
      year > MAX_KEY_YEAR ||
      number < 1 ||
      found.year !== year ||
      found.week !== number
    ) {
      throw new InvalidArgumentError(
        `${JSON.stringify(key)} is no ISO week of ${year} (weeks 01 to 52, or 53 in some years)`,
      );
    }
    return { family, key: { kind: 'range', ...intervalContaining(spec.interval, start) } };
  }
  const match = /^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$/.exec(key);
  const date = match
    ? new Date(Date.UTC(Number(match[1]), Number(match[2] ?? 1) - 1, Number(match[3] ?? 1)))
    : null;
  const year = Number(match?.[1]);
  if (
    !date ||
    Number.isNaN(date.getTime()) ||
    // Date.UTC reads years 0-99 as 1900-1999: `0026-11` must not become 1926-11.
    year < MIN_KEY_YEAR ||
    year > MAX_KEY_YEAR ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== Number(match?.[2] ?? 1) - 1 ||
    date.getUTCDate() !== Number(match?.[3] ?? 1)
  ) {
    throw new InvalidArgumentError(
      `${table} is partitioned by ${spec.interval}; give a date in it as YYYY, YYYY-MM or ` +
        `YYYY-MM-DD${spec.interval === 'week' ? ' (or the week, YYYY-wNN)' : ''} with a year in ` +
        `${MIN_KEY_YEAR}..${MAX_KEY_YEAR}, not ${JSON.stringify(key)}`,
    );
  }
  // A month or a year names more than one day or week: which one was meant is a guess, and a
  // retire of the wrong one drops the wrong rows. Only a date at least as fine as the interval.
  const given = match?.[3] ? 'day' : match?.[2] ? 'month' : 'year';
  const fineEnough = {
    day: ['day'],
    week: ['day'],
    month: ['day', 'month'],
    year: ['day', 'month', 'year'],
  };
  if (!fineEnough[spec.interval].includes(given)) {
    throw new InvalidArgumentError(
      `${table} is partitioned by ${spec.interval}; ${JSON.stringify(key)} spans more than one ` +
        `${spec.interval}: give a day in the one you mean (YYYY-MM-DD${spec.interval === 'week' ? ', or the week as YYYY-wNN' : ''}` +
        `${spec.interval === 'month' ? ', or YYYY-MM' : ''})`,
    );
  }
  return { family, key: { kind: 'range', ...intervalContaining(spec.interval, date) } };
}
