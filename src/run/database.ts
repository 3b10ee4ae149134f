import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';

/**
 * Any Drizzle PostgreSQL database, whatever its driver (postgres.js, node-postgres, PGlite).
 * Every exported operation takes one of these.
 */
// biome-ignore lint/suspicious/noExplicitAny: the schema and relations types do not matter here
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any, any>;
