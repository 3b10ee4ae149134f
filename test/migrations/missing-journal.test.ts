import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * migrate() on an app folder with no meta/_journal.json (a wrong `out`, a typo, a monorepo path
 * read from the wrong folder) is refused, naming the folder: it used to resolve to "nothing
 * pending" on an empty database, and a deploy step silently did nothing.
 */
const t = useTestDatabase({ migrated: false });
const empty = mkdtempSync(join(tmpdir(), 'pgparts-no-journal-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

async function schemas(): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT nspname AS name FROM pg_namespace WHERE nspname IN ('drizzle', 'pgparts') ORDER BY 1`;
  return rows.map((r) => r.name);
}

describe('migrate() without a journal', () => {
  it('refuses a folder that does not exist, naming it, and changes nothing', async () => {
    const folder = join(empty, 'nope', 'drizzle');
    const error = await rejection(migrate(t.db, { appFolder: folder }));
    expectPgpartsError(error, 'invalid-config', {
      message: `pgparts: migrate: no migrations in ${folder}: the folder does not exist; nothing was applied`,
    });
    expect(await schemas()).toEqual([]);
  });

  it('refuses a folder without meta/_journal.json, with pgparts own migrations too', async () => {
    const error = await rejection(migrate(t.db, { appFolder: empty, packageMigrations: true }));
    expectPgpartsError(error, 'invalid-config', {
      message: `no migrations in ${empty}: it has no meta/_journal.json; nothing was applied`,
    });
    expect(await schemas()).toEqual([]);
  });
});
