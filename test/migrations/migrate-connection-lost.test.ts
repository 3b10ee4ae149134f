import { rmSync } from 'node:fs';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, expect, it } from 'vitest';
import { isPgpartsError } from '../../src/errors.js';
import { migrate } from '../../src/migrations/migrate.js';
import { MIGRATION_LOCK_KEY } from '../../src/migrations/runner.js';
import { writeMigrationFolder } from '../support/migration-folder.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const folder = writeMigrationFolder([
  {
    tag: '0000_add_note',
    when: 1_700_000_000_000,
    sql: 'ALTER TABLE lost_conn_target ADD COLUMN note text',
  },
]);
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** What `run` threw (undefined when it did not): awaited later, so handed a handler now. */
function failureOf(run: Promise<unknown>): Promise<unknown> {
  return run.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/**
 * Terminates the backend of `application` once pg_stat_activity shows it matching `condition`
 * (the test's own fixed SQL), as the server sees it: no sleep guesses when it got there.
 */
async function terminateOnceSeen(application: string, condition: string): Promise<void> {
  for (;;) {
    const [seen] = await t.sql.unsafe<{ pid: number }[]>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND ${condition}`,
      [application],
    );
    if (seen) {
      await t.sql`SELECT pg_terminate_backend(${seen.pid}::int)`;
      return;
    }
  }
}

it('a connection lost under a migration: a connection error naming it, in one line; the next migrate applies it once', async () => {
  await t.sql`CREATE TABLE lost_conn_target (id int)`;
  const client = t.connect({ max: 2, connection: { application_name: 'migrate_lost' } });
  const holder = t.connect({ max: 1 });
  try {
    // The migration's ALTER waits for the lock held here; its backend is terminated once the
    // server shows it waiting, and the lock goes with this transaction's end.
    const error = await holder.begin(async (tx) => {
      await tx`LOCK TABLE lost_conn_target IN ACCESS EXCLUSIVE MODE`;
      const migrating = failureOf(migrate(drizzle(client), { appFolder: folder }));
      await terminateOnceSeen('migrate_lost', "wait_event_type = 'Lock'");
      return migrating;
    });
    expect(isPgpartsError(error, 'connection'), String(error)).toBe(true);
    const message = (error as Error).message;
    expect(message).toMatch(
      new RegExp(
        `^pgparts: migration app 0000_add_note \\(${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): the connection to the database was lost: `,
      ),
    );
    expect(message).toContain('run migrate again');
    // Not drizzle's "Failed query: ALTER TABLE ..." with the statement's text and parameters.
    expect(message).not.toContain('Failed query');
    expect(message).not.toContain('\n');
  } finally {
    await client.end({ timeout: 0 });
    await holder.end({ timeout: 1 });
  }
  const again = await migrate(t.db, { appFolder: folder });
  expect(again.applied.map((m) => m.name)).toEqual(['0000_add_note']);
  const [column] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_attribute
    WHERE attrelid = 'lost_conn_target'::regclass AND attname = 'note' AND NOT attisdropped`;
  expect(column?.n).toBe(1);
  expect((await migrate(t.db, { appFolder: folder })).applied).toEqual([]);
});

it('a connection lost while migrate waits for another runner: a connection error naming migrate, not the statement', async () => {
  const holder = t.connect({ max: 1 });
  const client = t.connect({ max: 2, connection: { application_name: 'migrate_waiting' } });
  try {
    const [key0, key1] = MIGRATION_LOCK_KEY;
    await holder`SELECT pg_advisory_lock(${key0}::int4, ${key1}::int4)`;
    const migrating = failureOf(migrate(drizzle(client), { appFolder: folder }));
    // It asks for the lock, pauses, asks again: terminated once the server shows it asked.
    await terminateOnceSeen('migrate_waiting', "query LIKE '%pg_try_advisory_lock%'");
    const error = await migrating;
    expect(isPgpartsError(error, 'connection'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /^pgparts: migrate: the connection to the database was lost: /,
    );
    expect((error as Error).message).not.toContain('Failed query');
  } finally {
    await client.end({ timeout: 0 });
    await holder.end({ timeout: 1 });
  }
});
