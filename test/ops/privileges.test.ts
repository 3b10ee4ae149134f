import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/index.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey, unretireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { missingPrivileges } from '../../src/run/privileges.js';
import { pgparts } from '../cli/run-cli.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
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
    // One entry for every table of that owner (the families' tables and all their partitions).
    expect(run.stderr).toMatch(
      new RegExp(`ownership of \\d+ tables owned by ${OWNER} \\(DDL on partitions needs it\\): `),
    );
    expect(run.stderr.split(`GRANT "${OWNER}" TO "${READER}";`).length).toBe(2);
    expect(run.stderr).toMatch(/ and the same for the \d+ others: .+ and \d+ more/);
    // PostgreSQL 14 lets every role create in public; 15+ does not, and then the grant is listed.
    const [can] = await t.sql<{ ok: boolean }[]>`
      SELECT has_schema_privilege(${READER}, 'public', 'CREATE') AS ok`;
    const grant = `GRANT CREATE ON SCHEMA "public" TO "${READER}";`;
    if (can?.ok) expect(run.stderr).not.toContain(grant);
    else expect(run.stderr).toContain(grant);
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

  it('the exported API runs the same check before its first change', async () => {
    const reader = t.connect({ max: 2, username: READER, password: PASSWORD });
    const db = drizzle(reader);
    const before = await partitionCount();
    const runs = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pgparts_maintenance_runs`;
    const applied = await rejection(apply(db, { families: [...builtInFamilies] }));
    expectPgpartsError(applied, 'permission');
    expect((applied as Error).message).toContain(`GRANT "${OWNER}" TO "${READER}";`);
    const season = { kind: 'list', value: 1 } as const;
    for (const attempt of [
      () => drainKey(db, leaderboardFamily, season),
      () => retireKey(db, leaderboardFamily, season, { mode: 'drop' }),
      () => unretireKey(db, leaderboardFamily, season),
    ]) {
      const error = await rejection(attempt());
      expectPgpartsError(error, 'permission');
      expect((error as Error).message).toContain('nothing was changed');
    }
    expect(await partitionCount()).toBe(before);
    // Refused before the run began: no run recorded, no operation on a key.
    const after = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM pgparts_maintenance_runs`;
    expect(after[0]?.n).toBe(runs[0]?.n);
    const ops = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pgparts_operations`.catch(() => [{ n: 0 }]);
    expect(ops[0]?.n).toBe(0);
  });

  it('reattach: the archived key comes back only for a role that may do it', async () => {
    // Key 1 was archived by the owner above (retire --archive).
    const archived = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'pgparts_archive'`;
    expect(archived[0]?.n).toBeGreaterThan(0);
    const before = await partitionCount();
    const refused = await pgparts(urlAs(READER), 'reattach', 'leaderboard_run', '1');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('reattach: the role lacks');
    expect(refused.stderr).toMatch(new RegExp(`ownership of \\d+ tables owned by ${OWNER} `));
    expect(refused.stderr).toContain(`GRANT CREATE ON DATABASE "${t.name}" TO "${READER}";`);
    expect(await partitionCount()).toBe(before);
    const done = await pgparts(urlAs(OWNER), 'reattach', 'leaderboard_run', '1');
    expect(done.code, done.stderr).toBe(0);
    expect(await partitionCount()).toBeGreaterThan(before);
  });

  it('unretire: a role that owns nothing is stopped; the owner forgets the key', async () => {
    // Season 2's partitions (made now, by the owner), then its retire records the key.
    const applied = await pgparts(urlAs(OWNER), 'apply');
    expect(applied.code, applied.stderr).toBe(0);
    const drop = await pgparts(urlAs(OWNER), 'retire', 'leaderboard_run', '2', '--yes');
    expect(drop.code, drop.stderr).toBe(0);
    const retired = async () =>
      (
        await t.sql<{ n: number }[]>`
          SELECT count(*)::int AS n FROM pgparts_retired_keys WHERE family = 'leaderboard' AND key = '2'`
      )[0]?.n;
    expect(await retired()).toBe(1);
    const refused = await pgparts(urlAs(READER), 'unretire', 'leaderboard_run', '2');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('unretire: the role lacks');
    // pgparts's own records were made by the owner: the reader may not write them.
    expect(refused.stderr).toContain(
      `GRANT SELECT, INSERT, UPDATE, DELETE ON "public"."pgparts_retired_keys" TO "${READER}";`,
    );
    expect(await retired()).toBe(1);
    const done = await pgparts(urlAs(OWNER), 'unretire', 'leaderboard_run', '2');
    expect(done.code, done.stderr).toBe(0);
    expect(await retired()).toBe(0);
  });
  it('never suggests membership in a superuser that owns a table, and names a schema-wide need once', async () => {
    await t.sql.unsafe(
      'CREATE TABLE su_events (id bigint NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at)',
    );
    const [me] = await t.sql<{ name: string; superuser: boolean }[]>`
      SELECT current_user AS name, rolsuper AS superuser FROM pg_roles WHERE rolname = current_user`;
    expect(me?.superuser).toBe(true);
    const superOwned = parseFamily({
      name: 'su_events',
      tables: ['su_events'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month' },
    });
    const reader = t.connect({ max: 1, username: READER, password: PASSWORD });
    try {
      const missing = await missingPrivileges(drizzle(reader), 'apply', [
        ...builtInFamilies,
        superOwned,
      ]);
      const own = missing.find((m) => m.needed.startsWith('ownership of su_events'));
      expect(own?.grant).toBe(
        `ALTER TABLE su_events OWNER TO "${READER}"; -- ${me?.name} is a superuser: membership in it would make "${READER}" one`,
      );
      expect(missing.some((m) => m.grant.startsWith(`GRANT "${me?.name}" TO`))).toBe(false);
      // Tables owned by an ordinary role still offer membership in it: once, for all of them.
      const byOwner = missing.filter((m) => m.grant.startsWith(`GRANT "${OWNER}" TO "${READER}";`));
      expect(byOwner).toHaveLength(1);
      expect(byOwner[0]?.grant).toMatch(
        new RegExp(
          `-- or: ALTER TABLE \\S+ OWNER TO "${READER}"; and the same for the \\d+ others: `,
        ),
      );
      // Three families in public: each need said once.
      const needs = missing.map((m) => m.needed);
      expect(new Set(needs).size).toBe(needs.length);
    } finally {
      await reader.end();
    }
  });
});
