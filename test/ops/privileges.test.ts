import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInFamilies } from '../../src/domains/presets.js';
import { missingPrivileges } from '../../src/run/privileges.js';
import { pgparts } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const suffix = randomBytes(4).toString('hex');
/** Owns the family tables (and their partitions) and may create in public; not the database. */
const OWNER = `lp_owner_${suffix}`;
/** May connect and read; owns nothing. */
const READER = `lp_reader_${suffix}`;
const PASSWORD = 'lp-pass';

function urlAs(role: string): string {
  const url = new URL(t.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

const familyTables = builtInFamilies.flatMap((f) => f.tables);

async function partitionCount(): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_inherits
    WHERE inhparent IN ('leaderboard_run'::regclass, 'run_group_member'::regclass)`;
  return row?.n ?? -1;
}

beforeAll(async () => {
  await t.sql.unsafe(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await t.sql.unsafe(`CREATE ROLE ${READER} LOGIN PASSWORD '${PASSWORD}'`);
  await t.sql.unsafe(`REVOKE CREATE ON DATABASE "${t.name}" FROM PUBLIC`);
  await t.sql.unsafe(`GRANT CREATE, USAGE ON SCHEMA public TO ${OWNER}`);
  await t.sql.unsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${OWNER}, ${READER}`);
  for (const table of familyTables) {
    const parts = await t.sql<{ name: string }[]>`
      SELECT relid::regclass::text AS name FROM pg_partition_tree(${table}::regclass)`;
    for (const p of parts) await t.sql.unsafe(`ALTER TABLE ${p.name} OWNER TO ${OWNER}`);
  }
  await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1')`;
});

afterAll(async () => {
  for (const role of [OWNER, READER]) {
    await t.sql.unsafe(`REASSIGN OWNED BY ${role} TO CURRENT_USER`);
    await t.sql.unsafe(`DROP OWNED BY ${role}`);
    await t.sql.unsafe(`DROP ROLE ${role}`);
  }
});

describe('least-privilege roles', () => {
  it('apply: a role that owns the tables and may create in their schema runs it', async () => {
    const run = await pgparts(urlAs(OWNER), 'apply');
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(await partitionCount()).toBeGreaterThan(0);
  });

  it('apply: a role that owns nothing is stopped before any change, with the grant', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (2, 'S2')`;
    const before = await partitionCount();
    const run = await pgparts(urlAs(READER), 'apply');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`apply: the role lacks`);
    expect(run.stderr).toContain(`ownership of leaderboard_run (owned by ${OWNER}`);
    expect(run.stderr).toContain(`GRANT "${OWNER}" TO "${READER}";`);
    expect(run.stderr).toContain(`GRANT CREATE ON SCHEMA "public" TO "${READER}";`);
    expect(await partitionCount()).toBe(before);
  });

  it('migrate and retire --archive need CREATE on the database; with it they run', async () => {
    const grant = `GRANT CREATE ON DATABASE "${t.name}" TO "${OWNER}";`;
    const migrate = await pgparts(urlAs(OWNER), 'migrate');
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toContain('CREATE SCHEMA IF NOT EXISTS "pgparts"');
    expect(migrate.stderr).toContain(grant);

    const before = await partitionCount();
    const retire = await pgparts(
      urlAs(OWNER),
      'retire',
      'leaderboard_run',
      '1',
      '--archive',
      '--yes',
    );
    expect(retire.code).toBe(1);
    expect(retire.stderr).toContain('CREATE SCHEMA IF NOT EXISTS "pgparts_archive"');
    expect(retire.stderr).toContain(grant);
    expect(await partitionCount()).toBe(before);

    await t.sql.unsafe(`GRANT CREATE ON DATABASE "${t.name}" TO ${OWNER}`);
    const retired = await pgparts(
      urlAs(OWNER),
      'retire',
      'leaderboard_run',
      '1',
      '--archive',
      '--yes',
    );
    expect(retired.code, retired.stderr).toBe(0);
    expect(await partitionCount()).toBeLessThan(before);
    // The migrations record belongs to the superuser that migrated the template.
    await t.sql.unsafe(`GRANT USAGE, CREATE ON SCHEMA pgparts TO ${OWNER}`);
    await t.sql.unsafe(`GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA pgparts TO ${OWNER}`);
    const migrated = await pgparts(urlAs(OWNER), 'migrate');
    expect(migrated.code, migrated.stderr).toBe(0);
  }, 180_000);

  it('drain: SET on session_replication_role is reported as advisory, and no longer once granted', async () => {
    const owner = t.connect({ max: 1, username: OWNER, password: PASSWORD });
    const missing = await missingPrivileges(drizzle(owner), 'drain', [...builtInFamilies]);
    const [version] = await t.sql<
      { v: number }[]
    >`SELECT current_setting('server_version_num')::int AS v`;
    expect(missing.filter((m) => m.severity === 'required')).toEqual([]);
    expect(missing.map((m) => m.grant)).toEqual([
      (version?.v ?? 0) >= 150000
        ? `GRANT SET ON PARAMETER session_replication_role TO "${OWNER}";`
        : '-- PostgreSQL 14: only a superuser may set it',
    ]);
    await t.sql.unsafe(
      (version?.v ?? 0) >= 150000
        ? `GRANT SET ON PARAMETER session_replication_role TO ${OWNER}`
        : 'SELECT 1',
    );
    if ((version?.v ?? 0) >= 150000) {
      expect(await missingPrivileges(drizzle(owner), 'drain', [...builtInFamilies])).toEqual([]);
    }
  });
});
