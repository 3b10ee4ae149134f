import { z } from 'zod';
import { preparedStatementName, sendSql } from '../run/prepared-statement.js';
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

export { sendSql };
