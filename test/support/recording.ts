import { drizzle } from 'drizzle-orm/postgres-js';
import type { TestDatabase } from './test-database.js';

/**
 * A database handle on this file's database that records the text of every statement it sends
 * (postgres.js's debug hook), in order: what a run really executed, to compare with what it said.
 */
export function recordingDatabase(t: TestDatabase) {
  const statements: string[] = [];
  const client = t.connect({
    max: 2,
    debug: (_connection: number, query: string) => {
      statements.push(query);
    },
  });
  return { db: drizzle(client), statements, close: () => client.end() };
}
