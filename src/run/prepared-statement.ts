import { createHash } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import type { PgDialect } from 'drizzle-orm/pg-core';
import type { AnyPgDatabase } from './database.js';

/**
 * Named prepared statements: the one way pgparts sends a statement that the connection keeps.
 *
 * Why: a parameterized statement sent unnamed is parsed, described and planned on every call
 * (postgres.js even asks the server for its parameter types first: two round trips). A named
 * one is parsed once per connection, and with `plan_cache_mode = force_generic_plan` planned
 * once too. The catalog reads of every maintenance run and the hot queries (with `prepare`) go
 * this way. Drivers that keep no statements (PGlite) run it as usual; a postgres.js client made
 * with `prepare: false` (behind a transaction-mode pooler) keeps sending it unnamed.
 */

/**
 * The statement's name: the query's and a hash of its text, so node-postgres (which refuses one
 * name for two texts on a connection) gets one name per shape, e.g. with and without a cursor.
 * postgres.js names its statements itself and ignores it.
 */
export function preparedStatementName(query: string, text: string): string {
  return `pgparts_${query}_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
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
  return sendPrepared(db, query, builtQuery(db, statement));
}

/** A statement as `db`'s driver will receive it: its text and its parameters. */
export interface BuiltQuery {
  sql: string;
  params: unknown[];
}

export function builtQuery(db: AnyPgDatabase, statement: SQL): BuiltQuery {
  return (db as unknown as DrizzleSessionInternals).dialect.sqlToQuery(statement);
}

/** sendSql with `prepare`, for a statement built already (builtQuery). */
export function sendPrepared(
  db: AnyPgDatabase,
  query: string,
  built: BuiltQuery,
): PromiseLike<unknown> {
  const internals = db as unknown as DrizzleSessionInternals;
  return internals._.session
    .prepareQuery(built, undefined, preparedStatementName(query, built.sql), false)
    .execute();
}
