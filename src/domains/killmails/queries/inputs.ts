import { and, eq, gte, lt, lte, or, type SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import { PgpartsError } from '../../../errors.js';
import { instantInRange } from '../../../query/input.js';

/** A game id (killmail, system, type, character, ...): a positive safe integer. */
export const gameIdSchema = z.number().int().positive().safe();

/** An instant: a Date or an ISO 8601 string with an offset (never a zone-less local time). */
export const instantSchema = z
  .union(
    [z.date(), z.iso.datetime({ offset: true })],
    'expected a valid Date, or an ISO 8601 string with an offset (2026-05-01T00:00:00Z)',
  )
  .transform((value) => new Date(value))
  .refine((date) => !Number.isNaN(date.getTime()), 'not a valid date')
  .refine(instantInRange, 'outside the years 1 to 9999 a timestamp parameter can carry');

export const limitSchema = (max: number, fallback: number) =>
  z.number().int().min(1).max(max).default(fallback);

/** Keyset pagination: the (killmail_time, killmail_id) of the last row of the previous page. */
export const cursorSchema = z
  .object({ killmailTime: instantSchema, killmailId: gameIdSchema })
  .strict();
export type KillmailCursor = z.input<typeof cursorSchema>;

/** A time window [from, to): both ends bound, so pruning is two-sided. */
export const windowFields = {
  from: instantSchema.optional(),
  to: instantSchema.optional(),
};

export interface TimeWindow {
  from: Date;
  to: Date;
}

/**
 * Fills a window's missing ends: `to` defaults to now, `from` to `to` minus the query's default
 * span. The window is resolved in the application, so the query carries two bound parameters the
 * planner prunes with (a custom plan at plan time, a generic plan at executor start).
 */
export function resolveWindow(
  query: string,
  window: { from?: Date | undefined; to?: Date | undefined },
  defaultSpanMs: number,
  now: Date = new Date(),
): TimeWindow {
  const to = window.to ?? now;
  const from = window.from ?? new Date(to.getTime() - defaultSpanMs);
  if (from.getTime() >= to.getTime()) {
    throw new PgpartsError(
      'invalid-input',
      `pgparts: invalid input for ${query}: the window is empty (from ${from.toISOString()} is not ` +
        `before to ${to.toISOString()}); pass from < to`,
    );
  }
  return { from, to };
}

/** killmail_time and killmail_id of raw, enriched or participants. */
type TimeColumn = AnyPgColumn<{ data: Date }>;
type IdColumn = AnyPgColumn<{ data: number }>;

/** killmail_time >= from AND killmail_time < to. */
export function withinWindow(time: TimeColumn, window: TimeWindow): SQL | undefined {
  return and(gte(time, window.from), lt(time, window.to));
}

/**
 * Rows after the cursor in (killmail_time DESC, killmail_id DESC) order. The leading
 * `killmail_time <= t` is what an index and the pruning can use; the OR settles ties on time.
 */
export function afterCursor(
  time: TimeColumn,
  id: IdColumn,
  cursor: { killmailTime: Date; killmailId: number } | undefined,
): SQL | undefined {
  if (!cursor) return undefined;
  return and(
    lte(time, cursor.killmailTime),
    or(
      lt(time, cursor.killmailTime),
      and(eq(time, cursor.killmailTime), lt(id, cursor.killmailId)),
    ),
  );
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
