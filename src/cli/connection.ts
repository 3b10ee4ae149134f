import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { PgpartsError } from '../errors.js';
import { cliIo } from './io.js';

/** The URL with its password replaced, for anything printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable database URL)';
  }
}

export interface CliConnection {
  db: PostgresJsDatabase;
  sql: postgres.Sql;
  label: string;
  close(): Promise<void>;
}

/** Connects with --database-url or DATABASE_URL; a clear error when neither is given. */
export function connect(databaseUrl: string | undefined): CliConnection {
  const url = databaseUrl ?? cliIo().env.DATABASE_URL;
  if (!url) {
    throw new PgpartsError(
      'invalid-config',
      'pgparts: no database given; pass --database-url or set DATABASE_URL',
    );
  }
  const sql = postgres(url, { max: 4, onnotice: () => {} });
  return {
    db: drizzle(sql),
    sql,
    label: redactUrl(url),
    close: () => sql.end({ timeout: 5 }),
  };
}
