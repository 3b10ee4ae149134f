import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const suffix = randomBytes(4).toString('hex');
/** An app's role: CREATE on the database (its schemas), nothing on public. */
const ROLE = `lpm_app_${suffix}`;
const PASSWORD = 'lp-pass';
const folder = mkdtempSync(join(tmpdir(), 'pgparts-own-schema-'));

beforeAll(async () => {
  await t.sql.unsafe(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await t.sql.unsafe(`GRANT CREATE ON DATABASE "${new URL(t.url).pathname.slice(1)}" TO ${ROLE}`);
  // PostgreSQL 14 still gives every role CREATE on public: take it away, as 15 does.
  await t.sql.unsafe('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
  // The app's one migration, as drizzle-kit writes it for pgSchema('appx') tables.
  mkdirSync(join(folder, 'meta'));
  writeFileSync(
    join(folder, '0000_init.sql'),
    'CREATE SCHEMA "appx";\n--> statement-breakpoint\nCREATE TABLE "appx"."things" (\n\t"id" integer PRIMARY KEY\n);\n',
  );
  writeFileSync(
    join(folder, 'meta', '_journal.json'),
    JSON.stringify({
      version: '7',
      dialect: 'postgresql',
      entries: [{ idx: 0, version: '7', when: 1796089595106, tag: '0000_init', breakpoints: true }],
    }),
  );
});

afterAll(async () => {
  rmSync(folder, { recursive: true, force: true });
  await t.sql.unsafe(`REASSIGN OWNED BY ${ROLE} TO CURRENT_USER`);
  await t.sql.unsafe(`DROP OWNED BY ${ROLE}`);
  await t.sql.unsafe(`DROP ROLE ${ROLE}`);
});

/**
 * migrate's preflight asked every role for CREATE on public ("the tables the migrations
 * create"), whatever schema the migrations create them in: an app whose tables all live in a
 * schema of its own had to be given CREATE on public to migrate. It now asks CREATE where the
 * migrations create tables.
 */
describe('migrate by a role whose tables live in its own schema', () => {
  it('needs no CREATE on public', async () => {
    const url = new URL(t.url);
    url.username = ROLE;
    url.password = PASSWORD;
    const client = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      const result = await migrate(drizzle(client), {
        appFolder: folder,
        packageMigrations: false,
        appMigrationsSchema: `appx_meta`,
      });
      expect(result.applied.map((a) => a.name)).toEqual(['0000_init']);
    } finally {
      await client.end();
    }
    const [owner] = await t.sql<{ owner: string }[]>`
      SELECT tableowner AS owner FROM pg_tables WHERE schemaname = 'appx' AND tablename = 'things'`;
    expect(owner?.owner).toBe(ROLE);
  });
});
