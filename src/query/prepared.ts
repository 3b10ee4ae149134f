import { createHash } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import type { PgDialect } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { AnyPgDatabase } from '../run/database.js';
import { parseQueryInput } from './input.js';

/** How a hot query is sent to the server (the optional last argument of each hot query). */
export const queryOptionsSchema = z
  .object({
    /**
     * true: send the query as a named prepared statement that the connection keeps, so calls
     * with new values reuse it. On a connection with `plan_cache_mode = force_generic_plan` the
     * server plans it once per connection and prunes partitions when each call starts; under the
     * default (`auto`) it plans the first five calls with their values and then keeps a generic
     * plan only if that looks no dearer. false (the default): Drizzle's unnamed statement,
     * planned on every call with its values.
     */
    prepare: z.boolean().default(false),
  })
  .strict();
export type QueryOptions = z.input<typeof queryOptionsSchema>;

export function parseQueryOptions(query: string, options: QueryOptions | undefined) {
  return parseQueryInput(query, queryOptionsSchema, options ?? {});
}

/**
 * The statement's name: the query's and a hash of its text, so node-postgres (which refuses one
 * name for two texts on a connection) gets one name per shape, e.g. with and without a cursor.
 * postgres.js names its statements itself and ignores it.
 */
export function preparedStatementName(query: string, text: string): string {
  return `pgparts_${query}_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
}

/** A Drizzle query builder: awaited, it runs unnamed; `prepare(name)` makes a named statement. */
interface PreparableQuery<T> extends PromiseLike<T> {
  toSQL(): { sql: string };
  prepare(name: string): { execute(): Promise<T> };
}

/** Runs a query builder unnamed or, with `prepare`, as a named prepared statement. */
export function sendQuery<T>(
  query: string,
  builder: PreparableQuery<T>,
  options: { prepare: boolean },
): PromiseLike<T> {
  if (!options.prepare) return builder;
  return builder.prepare(preparedStatementName(query, builder.toSQL().sql)).execute();
}

interface DrizzleSessionInternals {
  dialect: PgDialect;
  _: {
    session: {
      prepareQuery(
        query: { sql: string; params: unknown[] },
        fields: undefined,
        name: string,
        isResponseInArrayMode: boolean,
      ): { execute(): Promise<unknown> };
    };
  };
}

/**
 * `db.execute(statement)`, or with `prepare` the same statement as a named prepared statement:
 * Drizzle's `execute` has no name to give, so this goes through the session Drizzle itself
 * prepares builders with; the result has the shape `db.execute` returns on that driver.
 */
export function sendSql(
  db: AnyPgDatabase,
  query: string,
  statement: SQL,
  options: { prepare: boolean },
): PromiseLike<unknown> {
  if (!options.prepare) return db.execute(statement);
  const internals = db as unknown as DrizzleSessionInternals;
  const built = internals.dialect.sqlToQuery(statement);
  return internals._.session
    .prepareQuery(built, undefined, preparedStatementName(query, built.sql), false)
    .execute();
}
