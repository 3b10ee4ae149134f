import type { TestContext } from 'vitest';
import type { TestDatabase } from './test-database.js';

/**
 * A tablespace in the server's own data directory (in-place, PostgreSQL 15+): no directory of
 * the server's user to make here, and a standby made from this server (another test file's)
 * replays it without one either. Skips the test on PostgreSQL 14, saying why. Returns its name
 * and the connection that made it (drop it there once its tables are gone).
 */
export async function inPlaceTablespace(t: TestDatabase, context: TestContext, prefix: string) {
  const [server] = await t.sql<{ v: number }[]>`
    SELECT current_setting('server_version_num')::int AS v`;
  if ((server?.v ?? 0) < 150000) context.skip('PostgreSQL 14 has no in-place tablespaces');
  const space = `${prefix}_${t.name}`;
  const admin = t.connect({ max: 1 });
  await admin.unsafe('SET allow_in_place_tablespaces = on');
  await admin.unsafe(`CREATE TABLESPACE "${space}" LOCATION ''`);
  return { space, admin };
}
