import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/conversion-targets.js';
import { convertFill } from '../../src/ops/convert/fill.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { convertSwap } from '../../src/ops/convert/swap.js';
import { pgparts } from '../cli/run-cli.js';
import { buildLegacyKillmails } from '../support/legacy-fixtures.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const suffix = randomBytes(4).toString('hex');
/** Owns the legacy tables and may create in public; not the database. */
const OWNER = `lpc_owner_${suffix}`;
const PASSWORD = 'lp-pass';
const TABLES = ['killmails_raw', 'killmails_enriched', 'killmail_participants'];

function urlAs(role: string): string {
  const url = new URL(t.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

/** Rows and an md5 over the columns every side has, in key order. */
async function digest(schema: string): Promise<string> {
  const [row] = await t.sql<{ d: string }[]>`
    SELECT md5(string_agg(killmail_id::text || '|' || killmail_time::text || '|' || raw_payload::text,
                          E'\n' ORDER BY killmail_id)) || ':' || count(*) AS d
    FROM ${t.sql(schema)}.killmails_raw`;
  return row?.d ?? '';
}

async function schemaExists(name: string): Promise<boolean> {
  const [row] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${name}`;
  return (row?.n ?? 0) > 0;
}

beforeAll(async () => {
  await buildLegacyKillmails(t.sql, { killmails: 300, months: 2 });
  await t.sql.unsafe(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await t.sql.unsafe(`REVOKE CREATE ON DATABASE "${t.name}" FROM PUBLIC`);
  await t.sql.unsafe(`GRANT CREATE, USAGE ON SCHEMA public TO ${OWNER}`);
  for (const table of TABLES) await t.sql.unsafe(`ALTER TABLE ${table} OWNER TO ${OWNER}`);
});

afterAll(async () => {
  await t.sql.unsafe(`REASSIGN OWNED BY ${OWNER} TO CURRENT_USER`);
  await t.sql.unsafe(`DROP OWNED BY ${OWNER}`);
  await t.sql.unsafe(`DROP ROLE ${OWNER}`);
});

describe('least privilege: convert', () => {
  it('a role that owns the tables but not the database is stopped before any change, CLI and API', async () => {
    const before = await digest('public');
    const run = await pgparts(urlAs(OWNER), 'convert', 'killmails', 'prep');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('convert: the role lacks');
    expect(run.stderr).toContain(`GRANT CREATE ON DATABASE "${t.name}" TO "${OWNER}";`);
    expect(run.stderr).toContain('CREATE SCHEMA IF NOT EXISTS "pgparts_convert"');
    // The legacy views over the tables are the superuser's: swap moves them, so it needs them.
    expect(run.stderr).toContain('ownership of the view big_kills');

    // The exported API runs the same check before its first change.
    const owner = t.connect({ max: 1, username: OWNER, password: PASSWORD });
    const error = await rejection(convertPrep(drizzle(owner), builtInTarget('killmails')));
    expectPgpartsError(error, 'permission');
    expect((error as Error).message).toContain(
      `GRANT CREATE ON DATABASE "${t.name}" TO "${OWNER}";`,
    );
    // Every later step called alone checks too: refused for privileges, not for state.
    for (const step of [convertFill, convertSwap]) {
      const refused = await rejection(step(drizzle(owner), builtInTarget('killmails')));
      expectPgpartsError(refused, 'permission');
    }
    for (const schema of ['pgparts_convert', 'pgparts_killmails_new']) {
      expect(await schemaExists(schema)).toBe(false);
    }
    expect(await digest('public')).toBe(before);
    await owner.end();
  });

  it('with CREATE on the database the same role converts, every row kept', async () => {
    const before = await digest('public');
    await t.sql.unsafe(`GRANT CREATE ON DATABASE "${t.name}" TO ${OWNER}`);
    const views = await t.sql<{ name: string }[]>`
      SELECT c.oid::regclass::text AS name FROM pg_class c
      WHERE c.relkind IN ('v', 'm') AND c.relnamespace = 'public'::regnamespace`;
    expect(views.length).toBeGreaterThan(0);
    for (const v of views) await t.sql.unsafe(`ALTER TABLE ${v.name} OWNER TO ${OWNER}`);
    const all = await pgparts(urlAs(OWNER), 'convert', 'killmails', '--all', '--batch-size', '100');
    expect(all.code, all.stderr + all.stdout).toBe(0);
    expect(all.stdout).toContain('verify killmails: OK');
    const [kind] = await t.sql<{ relkind: string }[]>`
      SELECT relkind FROM pg_class WHERE oid = 'public.killmails_raw'::regclass`;
    expect(kind?.relkind).toBe('p');
    expect(await digest('public')).toBe(before);
    expect(await digest('pgparts_killmails_old')).toBe(before);
  }, 120_000);
});
