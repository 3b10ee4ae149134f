import type { Interval } from '../define/intervals.js';
import { textLiteral } from './literals.js';

/**
 * Sets TimeZone UTC for the rest of the caller's transaction: what rangeBucketSql needs.
 */
export const UTC_TIMEZONE_SQL = "SELECT set_config('TimeZone', 'UTC', true)";

/**
 * The start of the RANGE interval `column`'s value falls in, on the UTC grid the planner cuts
 * intervals on: `date_trunc('month', "col"::timestamp)`, a timestamp. Run it under TimeZone UTC
 * (UTC_TIMEZONE_SQL): ::timestamp then turns a timestamptz into its UTC wall time and leaves a
 * timestamp or a date, which carry no zone, as they are. Under another TimeZone a timestamptz
 * would be cut in that zone. date_trunc('week') starts on Monday, as the spec's weeks do.
 */
export function rangeBucketSql(interval: Interval, column: string): string {
  return `date_trunc(${textLiteral(interval)}, ${column}::timestamp)`;
}
