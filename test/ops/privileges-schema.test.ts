import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey, unretireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { missingPrivileges } from '../../src/run/privileges.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const suffix = randomBytes(4).toString('hex');
/** Owns the family's tables in schema "AppData". */
const OWNER = `lps_owner_${suffix}`;
/** Member of the owner, but without USAGE on "AppData". */
const APP = `lps_app_${suffix}`;
const PASSWORD = 'lp-pass';
const SCHEMA = 'AppData';

const family = parseFamily({
  name: 'app_events',
  schema: SCHEMA,
  tables: ['Events'],
  defaultPartition: true,
  partitionBy: { strategy: 'range', column: 'occurredAt', interval: 'month', premake: 1 },
});

beforeAll(async () => {
  await t.sql.unsafe(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await t.sql.unsafe(`CREATE ROLE ${APP} LOGIN PASSWORD '${PASSWORD}'`);
  await t.sql.unsafe(`CREATE SCHEMA "${SCHEMA}"`);
  await t.sql.unsafe(
    `CREATE TABLE "${SCHEMA}"."Events" (id bigint NOT NULL, "occurredAt" timestamptz NOT NULL)
     PARTITION BY RANGE ("occurredAt")`,
  );
  await t.sql.unsafe(`ALTER TABLE "${SCHEMA}"."Events" OWNER TO ${OWNER}`);
  await t.sql.unsafe(`GRANT CREATE ON SCHEMA "${SCHEMA}" TO ${OWNER}, ${APP}`);
  await t.sql.unsafe(`GRANT ${OWNER} TO ${APP}`);
});

afterAll(async () => {
  for (const role of [APP, OWNER]) {
    await t.sql.unsafe(`REASSIGN OWNED BY ${role} TO CURRENT_USER`);
    await t.sql.unsafe(`DROP OWNED BY ${role}`);
    await t.sql.unsafe(`DROP ROLE ${role}`);
  }
});

async function partitionCount(): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = '"AppData"."Events"'::regclass`;
  return row?.n ?? -1;
}

describe('least privilege: USAGE on the family schema', () => {
  it('is reported in the permission list by apply, drain, retire and unretire, before any change', async () => {
    const app = t.connect({ max: 2, username: APP, password: PASSWORD });
    const db = drizzle(app);
    const grant = `GRANT USAGE ON SCHEMA "${SCHEMA}" TO "${APP}";`;
    const before = await partitionCount();
    try {
      const applied = await rejection(apply(db, { families: [family] }));
      expectPgpartsError(applied, 'permission', { message: 'nothing was changed' });
      expect((applied as Error).message).toContain(grant);
      const key = {
        kind: 'range',
        from: new Date('2020-01-01T00:00:00Z'),
        to: new Date('2020-02-01T00:00:00Z'),
      } as const;
      for (const attempt of [
        () => drainKey(db, family, key),
        () => retireKey(db, family, key, { mode: 'drop' }),
        () => unretireKey(db, family, key),
      ]) {
        const error = await rejection(attempt());
        expectPgpartsError(error, 'permission');
        expect((error as Error).message).toContain(grant);
      }
      expect(await partitionCount()).toBe(before);

      await t.sql.unsafe(`GRANT USAGE ON SCHEMA "${SCHEMA}" TO ${APP}`);
      const missing = await missingPrivileges(db, 'apply', [family]);
      expect(missing.filter((m) => m.severity === 'required')).toEqual([]);
    } finally {
      await app.end();
    }
  });
});
