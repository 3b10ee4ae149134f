import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderOnlineIndexMigration } from '../../src/ops/online-index-migration.js';
import { pgpartsProcess } from '../cli/run-cli.js';
import {
  type CrashableServer,
  crashWhen,
  startCrashableServer,
} from '../support/crashable-server.js';
import { writeMigrationFolder } from '../support/migration-folder.js';
import { type TableDigest, tableDigest } from '../support/table-checksum.js';

/**
 * An index replaced online (`-- pgparts:replace-index-online`) survives its server being killed
 * (SIGKILL of the postmaster) while a partition's new index is being built: after the restart
 * the old index is there, valid and as it was (it served all along), the migration is not
 * recorded, and `pgparts migrate` run again finishes the replacement; every row as before.
 */
let server: CrashableServer;
let sql: postgres.Sql;
const quiet = { onnotice: () => {} };
const app = mkdtempSync(join(tmpdir(), 'pgparts-crash-index-'));
const ROWS = 400_000;
const OLD = 'CREATE INDEX events_kind_idx ON ONLY public.events USING btree (kind)';

const connect = () => {
  sql = postgres(server.url(), { max: 2, ...quiet });
  return sql;
};

async function index() {
  const [row] = await sql<{ def: string | null; valid: boolean | null }[]>`
    SELECT pg_get_indexdef(x.indexrelid) AS def, x.indisvalid AS valid
    FROM pg_index x WHERE x.indexrelid = to_regclass('events_kind_idx')`;
  return row ?? null;
}

let before: TableDigest;

beforeAll(async () => {
  server = await startCrashableServer('crash-index');
  connect();
  await sql.unsafe(`
    CREATE TABLE events (tenant_id int NOT NULL, id bigint NOT NULL, kind text, payload text)
      PARTITION BY LIST (tenant_id);
    CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
    CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);
    CREATE TABLE events_3 PARTITION OF events FOR VALUES IN (3);
    CREATE TABLE events_4 PARTITION OF events FOR VALUES IN (4);
    INSERT INTO events SELECT g % 4 + 1, g, 'kind_' || (g % 997), md5(g::text)
      FROM generate_series(1, ${ROWS}) g;
    CREATE INDEX events_kind_idx ON events (kind);
    CHECKPOINT;`);
  before = await tableDigest(sql, 'events', ['tenant_id', 'id']);
  // A family as a plain object: the config imports nothing (the folder has no node_modules).
  writeFileSync(
    join(app, 'pgparts.config.ts'),
    "export const families = [{ name: 'events', tables: ['events'], partitionBy: { strategy: 'list', column: 'tenant_id', values: [1, 2, 3, 4] } }];\n",
  );
  writeFileSync(
    join(app, 'drizzle.config.ts'),
    "export default { dialect: 'postgresql', out: './drizzle', schema: './schema.ts' };\n",
  );
  writeMigrationFolder(
    [
      {
        tag: '0000_kind_and_id',
        when: 1_700_000_000_000,
        sql: renderOnlineIndexMigration([
          { replace: { table: 'events', name: 'events_kind_idx', columns: ['kind', 'id'] } },
        ]),
      },
    ],
    join(app, 'drizzle'),
  );
}, 240_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 }).catch(() => {});
  await server?.stop();
  rmSync(app, { recursive: true, force: true });
}, 60_000);

describe('the server is killed while an index is replaced online', () => {
  it('keeps the old index valid and as it was; migrate run again finishes the replacement; every row as before', async () => {
    const migrate = () =>
      pgpartsProcess(server.url(), 'migrate', '--config', join(app, 'pgparts.config.ts'));
    expect(await index()).toEqual({ def: OLD, valid: true });
    const killed = await crashWhen(
      server,
      migrate(),
      `SELECT 1 FROM pg_stat_activity
        WHERE query LIKE 'CREATE INDEX CONCURRENTLY%_kind_idx_pgparts_new%' AND state = 'active'`,
      () => sql.end({ timeout: 1 }),
    );
    connect();
    expect(killed.code).not.toBe(0);
    // The old index, as it was; the replacement begun (marked), not swapped; nothing recorded.
    expect(await index()).toEqual({ def: OLD, valid: true });
    const [state] = await sql`
      SELECT to_regclass('events_kind_idx_pgparts_new') IS NOT NULL AS begun,
             to_regclass('drizzle.__drizzle_migrations') IS NULL
               OR (SELECT count(*) FROM drizzle.__drizzle_migrations) = 0 AS unrecorded`;
    expect(state).toEqual({ begun: true, unrecorded: true });

    const rerun = await migrate();
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await index()).toEqual({
      def: 'CREATE INDEX events_kind_idx ON ONLY public.events USING btree (kind, id)',
      valid: true,
    });
    const [after] = await sql`
      SELECT (SELECT count(*)::int FROM pg_class WHERE relname LIKE '%pgparts_new%') AS left_over,
             (SELECT count(*)::int FROM pg_inherits
               WHERE inhparent = 'events_kind_idx'::regclass) AS attached,
             (SELECT count(*)::int FROM pg_index x JOIN pg_inherits i ON i.inhrelid = x.indrelid
               WHERE i.inhparent = 'events'::regclass AND NOT x.indisvalid) AS invalid`;
    expect(after).toEqual({ left_over: 0, attached: 4, invalid: 0 });
    expect(await tableDigest(sql, 'events', ['tenant_id', 'id'])).toEqual(before);
  }, 240_000);
});
