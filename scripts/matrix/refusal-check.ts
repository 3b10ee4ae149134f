/**
 * Starts a PostgreSQL older than 14 and checks that migrate() refuses it with the message
 * unsupportedServerReason gives, before changing anything.
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { unsupportedServerReason } from '../../src/core/server-version.js';
import { migrate } from '../../src/migrate.js';
import { startEmbeddedServer } from '../embedded-server.js';

export interface RefusalResult {
  versionNum: number;
  refused: boolean;
  detail: string;
}

export async function checkRefusal(packageDir: string): Promise<RefusalResult> {
  const server = await startEmbeddedServer({ purpose: 'matrix-refusal', packageName: packageDir });
  const client = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await client<{ v: string }[]>`SELECT current_setting('server_version_num') AS v`;
    const versionNum = Number(row?.v);
    const expected = unsupportedServerReason(versionNum);
    let message: string | undefined;
    try {
      await migrate(drizzle(client));
    } catch (error) {
      message = (error as Error).message;
    }
    const [created] = await client<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'drizzle'`;
    const untouched = created?.n === 0;
    const refused = expected !== undefined && message === expected && untouched;
    const detail = refused
      ? 'migrate() refused it and created nothing'
      : `expected refusal ${JSON.stringify(expected)}, got ${JSON.stringify(message ?? 'success')}` +
        (untouched ? '' : ' and the drizzle schema was created');
    return { versionNum, refused, detail };
  } finally {
    await client.end();
    await server.stop();
  }
}
