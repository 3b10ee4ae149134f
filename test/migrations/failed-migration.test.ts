import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { writeMigrationFolder } from '../support/migration-folder.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * A migration that fails is named in the error (source, folder, tag), with what became of it
 * (rolled back, not recorded) and what this run applied before it: the server's words alone
 * ("division by zero") left the user to guess which file broke.
 */
const t = useTestDatabase({ migrated: false });
const folder = writeMigrationFolder([
  { tag: '0000_first', when: 1_700_000_000_000, sql: 'CREATE TABLE first_table (id int)' },
  {
    tag: '0001_broken',
    when: 1_700_000_001_000,
    sql: 'CREATE TABLE second_table (id int);\n--> statement-breakpoint\nSELECT 1 / 0;',
  },
]);
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('a failing migration', () => {
  it('is named, said rolled back, with what was applied before it', async () => {
    const error = await rejection(migrate(t.db, { appFolder: folder }));
    const e = expectPgpartsError(error, 'migration', {
      message:
        `pgparts: migration app 0001_broken (${folder}) failed: division by zero (SQLSTATE 22012); ` +
        'it was rolled back and is not recorded as applied; applied before it in this run: app 0000_first',
    });
    expect(e.sqlState).toBe('22012');
    const tables = await t.sql<{ name: string }[]>`
      SELECT relname AS name FROM pg_class WHERE relname IN ('first_table', 'second_table')`;
    expect(tables.map((r) => r.name)).toEqual(['first_table']);
  });

  it('run again, names nothing before it', async () => {
    const error = await rejection(migrate(t.db, { appFolder: folder }));
    expectPgpartsError(error, 'migration', {
      message: /0001_broken .* failed: .*; nothing was applied before it in this run$/,
    });
  });
});
