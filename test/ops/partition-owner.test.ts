import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });
const suffix = randomBytes(4).toString('hex');
const OWNER = `pgparts_owner_${suffix}`;
const APP = `pgparts_maint_${suffix}`;
const MONITOR = `pgparts_monitor_${suffix}`;

/**
 * Maintenance run by a role that is a member of the tables' owner (docs/privileges.md) makes
 * partitions, and a swap drain a new DEFAULT. Made by that role, they were its own: the owner's
 * next migration (ALTER TABLE on the parent recurses into every partition) was refused on them,
 * and a role reading DEFAULT lost its grant when a swap replaced it. They now go to the parent's
 * owner, and the successor of a DEFAULT takes over its grants.
 */
const docs = (values: number[]) =>
  parseFamily({
    name: 'docs',
    schema: 'public',
    tables: ['docs'],
    partitionBy: { strategy: 'list', column: 'tenant', values },
    defaultPartition: true,
  });
const events = parseFamily({
  name: 'events',
  schema: 'public',
  tables: ['events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 0 },
});
const now = new Date('2026-12-15T00:00:00Z');

let owner: ReturnType<typeof t.connect>;
let app: ReturnType<typeof t.connect>;
let monitor: ReturnType<typeof t.connect>;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE ROLE ${OWNER} LOGIN PASSWORD 'o';
    CREATE ROLE ${APP} LOGIN PASSWORD 'a';
    CREATE ROLE ${MONITOR} LOGIN PASSWORD 'm';
    GRANT ${OWNER} TO ${APP};
    GRANT CREATE, USAGE ON SCHEMA public TO ${OWNER}, ${APP};
    GRANT USAGE ON SCHEMA public TO ${MONITOR};`);
  owner = t.connect({ max: 1, username: OWNER, password: 'o' });
  app = t.connect({ max: 2, username: APP, password: 'a' });
  monitor = t.connect({ max: 1, username: MONITOR, password: 'm' });
  await owner.unsafe(`
    CREATE TABLE docs (id bigint NOT NULL, tenant int NOT NULL, PRIMARY KEY (tenant, id))
      PARTITION BY LIST (tenant);
    CREATE TABLE events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at);`);
});

afterAll(async () => {
  await Promise.all([owner?.end(), app?.end(), monitor?.end()]);
});

async function owners(): Promise<Record<string, string>> {
  const rows = await t.sql<{ name: string; owner: string }[]>`
    SELECT c.relname AS name, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
    WHERE c.relispartition AND c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace`;
  return Object.fromEntries(rows.map((r) => [r.name, r.owner]));
}

describe('partitions made by a member of the owner role', () => {
  it("go to the parent's owner; a swap's new DEFAULT keeps the old one's owner and grants", async () => {
    const db = drizzle(app);
    expect((await apply(db, { families: [docs([1]), events], now })).failed).toBe(0);
    await owner.unsafe(`GRANT SELECT ON docs_default TO ${MONITOR}`);
    await owner.unsafe(`INSERT INTO docs SELECT g, 1 + g % 2 FROM generate_series(1, 200) g`);
    const before = await tableDigest(t.sql, 'docs', ['id']);
    // Value 2 declared: its rows are in DEFAULT; the drain swaps DEFAULT for a new table.
    const drained = await apply(db, { families: [docs([1, 2]), events], now });
    expect(drained.results.map((r) => [r.step.kind, r.outcome])).toEqual([['drain', 'done']]);
    expect(drained.results[0]?.message).toMatch(/swap/);
    expect(await tableDigest(t.sql, 'docs', ['id'])).toEqual(before);
    const made = await owners();
    expect(Object.keys(made).sort()).toEqual([
      'docs_default',
      'docs_s1',
      'docs_s2',
      'events_2026_12',
      'events_2027_01',
    ]);
    for (const [name, role] of Object.entries(made)) expect([name, role]).toEqual([name, OWNER]);
    const [seen] = await monitor<{ n: number }[]>`SELECT count(*)::int AS n FROM docs_default`;
    expect(seen?.n).toBe(0);
  });

  it("leave the owner's migrations able to alter the parents", async () => {
    await owner.unsafe('ALTER TABLE docs ADD COLUMN note text');
    await owner.unsafe('ALTER TABLE events ADD COLUMN note text');
    const [columns] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_attribute
      WHERE attname = 'note' AND attrelid IN (SELECT inhrelid FROM pg_inherits)`;
    expect(columns?.n).toBe(5);
  });
});
