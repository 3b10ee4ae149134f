/**
 * Starts a PostgreSQL older than 14 and checks that migrate() and maintain() (apply) refuse it
 * with the message unsupportedServerReason gives, before changing anything.
 */
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { unsupportedServerReason } from '../../src/catalog/server-version.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { migrate } from '../../src/migrations/migrate.js';
import { maintain } from '../../src/run/maintain.js';
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
    const refusal = async (operation: () => Promise<unknown>) => {
      try {
        await operation();
        return undefined;
      } catch (error) {
        return (error as Error).message;
      }
    };
    const message = await refusal(() => migrate(drizzle(client)));
    const applyMessage = await refusal(() =>
      maintain(drizzle(client), { families: builtInFamilies }),
    );
    // Nothing created: no schema besides the initial ones, no relation in public.
    const [created] = await client<{ n: number }[]>`
      SELECT (SELECT count(*) FROM pg_namespace
               WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\_%')
           + (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) AS n`;
    const untouched = Number(created?.n) === 0;
    const refused =
      expected !== undefined && message === expected && applyMessage === expected && untouched;
    const detail = refused
      ? 'migrate() and maintain() refused it and created nothing'
      : `expected refusal ${JSON.stringify(expected)}, got ${JSON.stringify(message ?? 'success')} ` +
        `from migrate(), ${JSON.stringify(applyMessage ?? 'success')} from maintain()` +
        (untouched ? '' : ', and something was created');
    return { versionNum, refused, detail };
  } finally {
    await client.end();
    await server.stop();
  }
}
