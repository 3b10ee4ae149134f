import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { useTestDatabase } from '../support/test-database.js';
import { digests, insertRuns, rowsByPartition, setupSeasons } from './leaderboard-fixture.js';

/** A role of this file's own (roles are shared by every database of the server). */
const APP = `pgparts_app_${randomBytes(4).toString('hex')}`;

const t = useTestDatabase();

afterAll(async () => {
  const [role] = await t.sql`SELECT 1 FROM pg_roles WHERE rolname = ${APP}`;
  if (!role) return;
  await t.sql.unsafe(`REASSIGN OWNED BY ${APP} TO CURRENT_USER`);
  await t.sql.unsafe(`DROP OWNED BY ${APP}`);
  await t.sql.unsafe(`DROP ROLE ${APP}`);
});

const S14 = { kind: 'list', value: 14 } as const;

describe('drainKey on the leaderboard (season 14 arrived before its partitions)', () => {
  let before: Awaited<ReturnType<typeof digests>>;

  beforeAll(async () => {
    await setupSeasons(t.sql);
    await insertRuns(t.sql, 14, 300);
    await insertRuns(t.sql, 12, 100, 5000);
    await insertRuns(t.sql, 13, 50, 9000);
    before = await digests(t.sql);
    expect(await rowsByPartition(t.sql)).toEqual({
      leaderboard_run_default: 400,
      leaderboard_run_s13: 50,
      run_group_member_default: 2000,
      run_group_member_s13: 250,
    });
  });

  it('moves every run and member of season 14, and nothing else, without losing a row', async () => {
    const result = await drainKey(t.db, leaderboardFamily, S14);
    expect(result).toMatchObject({
      status: 'drained',
      rowsMoved: 1800,
      tables: [
        { table: 'leaderboard_run', partition: 'leaderboard_run_s14', rowsMoved: 300 },
        { table: 'run_group_member', partition: 'run_group_member_s14', rowsMoved: 1500 },
      ],
    });
    expect(result.maxLockHoldMs).toBeGreaterThan(0);
    // The lock hold, split; the parts add up to it.
    const { replayMs, deleteMs, attachMs, otherMs } = result.finalPhase;
    expect(replayMs + deleteMs + attachMs + otherMs).toBeCloseTo(result.maxLockHoldMs, 3);
    expect(attachMs).toBeGreaterThan(0);
    const version = await t.sql<
      { v: number }[]
    >`SELECT current_setting('server_version_num')::int AS v`;
    if ((version[0]?.v ?? 0) >= 180000) {
      // PostgreSQL 18: DEFAULT swapped, nothing deleted under the locks; the keys validated after.
      expect(result.strategy).toBe('swap');
      expect(deleteMs).toBe(0);
      expect(result.swap?.validateMs).toBeGreaterThan(0);
      expect(result.swap?.validated).toEqual([expect.stringMatching(/^run_group_member\./)]);
    } else {
      expect(result.strategy).toBe('delete');
      expect(deleteMs).toBeGreaterThan(0);
    }
    expect(await rowsByPartition(t.sql)).toEqual({
      leaderboard_run_default: 100,
      leaderboard_run_s13: 50,
      leaderboard_run_s14: 300,
      run_group_member_default: 500,
      run_group_member_s13: 250,
      run_group_member_s14: 1500,
    });
    expect(await digests(t.sql)).toEqual(before);
  });

  it('leaves managed partitions and no drain machinery behind', async () => {
    const parts = await t.sql<{ name: string; comment: string; checks: number }[]>`
      SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment,
             (SELECT count(*)::int FROM pg_constraint WHERE conrelid = c.oid AND contype = 'c') AS checks
      FROM pg_class c WHERE c.relname IN ('leaderboard_run_s14', 'run_group_member_s14') ORDER BY 1`;
    expect(parts).toEqual([
      { name: 'leaderboard_run_s14', comment: 'pgparts:managed', checks: 0 },
      { name: 'run_group_member_s14', comment: 'pgparts:managed', checks: 0 },
    ]);
    const triggers = await t.sql`SELECT tgname FROM pg_trigger WHERE tgname = 'pgparts_capture'`;
    expect(triggers).toHaveLength(0);
    const [log] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pgparts_changes`;
    expect(log?.n).toBe(0);
    // No successor or old DEFAULT left; DEFAULT keeps its name and marker; the
    // foreign key is validated again.
    const left = await t.sql`SELECT relname FROM pg_class WHERE relkind IN ('r', 'p')
      AND (relname LIKE '%\\_next' OR relname LIKE '%\\_drained')`;
    expect(left).toEqual([]);
    const defaults = await t.sql<{ name: string; comment: string }[]>`
      SELECT c.relname AS name, obj_description(c.oid, 'pg_class') AS comment
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT' ORDER BY 1`;
    expect(defaults).toEqual([
      { name: 'leaderboard_run_default', comment: 'pgparts:managed' },
      { name: 'run_group_member_default', comment: 'pgparts:managed' },
    ]);
    const keys = await t.sql<{ valid: boolean }[]>`
      SELECT convalidated AS valid FROM pg_constraint WHERE contype = 'f'
        AND conrelid = 'run_group_member'::regclass AND confrelid = 'leaderboard_run'::regclass`;
    expect(keys).toEqual([{ valid: true }]);
  });

  it('keeps the foreign key: an orphan member is rejected, deleting a moved run cascades', async () => {
    const orphan = t.sql`INSERT INTO run_group_member (season_id, run_guid, character_name)
                         VALUES (14, gen_random_uuid(), 'ghost')`;
    await expect(orphan).rejects.toMatchObject({ code: '23503' });

    const [run] = await t.sql<{ run_guid: string }[]>`
      SELECT run_guid FROM leaderboard_run_s14 ORDER BY id LIMIT 1`;
    const guid = run?.run_guid as string;
    const members = () =>
      t.sql`SELECT 1 FROM run_group_member WHERE season_id = 14 AND run_guid = ${guid}`;
    expect(await members()).toHaveLength(5);
    await t.sql`DELETE FROM leaderboard_run WHERE season_id = 14 AND run_guid = ${guid}`;
    expect(await members()).toHaveLength(0);
  });

  it('has nothing to do the second time', async () => {
    const again = await drainKey(t.db, leaderboardFamily, S14);
    expect(again.status).toBe('nothing-to-do');
  });

  it('drains the slow way too, when the role may not skip triggers', async () => {
    // A role that is not superuser and lacks SET on session_replication_role.
    await t.sql.unsafe(`CREATE ROLE ${APP} LOGIN PASSWORD 'app'`);
    await t.sql.unsafe(`GRANT ALL ON SCHEMA public TO ${APP}`);
    await t.sql.unsafe(`ALTER TABLE leaderboard_run OWNER TO ${APP}`);
    await t.sql.unsafe(`ALTER TABLE run_group_member OWNER TO ${APP}`);
    await t.sql.unsafe(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${APP}`);
    await t.sql.unsafe(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${APP}`);
    await t.sql.unsafe(`ALTER TABLE pgparts_changes OWNER TO ${APP}`);
    for (const table of ['leaderboard_run', 'run_group_member']) {
      const parts = await t.sql<{ name: string }[]>`
        SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = ${table}::regclass`;
      for (const p of parts) await t.sql.unsafe(`ALTER TABLE "${p.name}" OWNER TO ${APP}`);
    }
    await t.sql`DELETE FROM leaderboard_run WHERE season_id = 12`;
    await insertRuns(t.sql, 12, 40, 20000);
    const beforeSlow = await digests(t.sql);
    const appDb = drizzle(t.connect({ max: 2, username: APP, password: 'app' }));
    const result = await drainKey(
      appDb,
      leaderboardFamily,
      { kind: 'list', value: 12 },
      {
        strategy: 'delete',
      },
    );
    expect(result.strategy).toBe('delete');
    expect(result.skippedTriggers).toBe(false);
    expect(result.finalPhase.deleteMs).toBeGreaterThan(0);
    expect(result.rowsMoved).toBe(240);
    expect(await digests(t.sql)).toEqual(beforeSlow);
    const byPart = await rowsByPartition(t.sql);
    expect(byPart.leaderboard_run_s12).toBe(40);
    expect(byPart.run_group_member_s12).toBe(200);
    expect(byPart.leaderboard_run_default).toBeUndefined();
  });

  it('drains by deleting when asked, skipping triggers as superuser (no cascade)', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (15, 'S15')`;
    await insertRuns(t.sql, 15, 60, 30000);
    const beforeDelete = await digests(t.sql);
    const result = await drainKey(
      t.db,
      leaderboardFamily,
      { kind: 'list', value: 15 },
      {
        strategy: 'delete',
      },
    );
    expect(result).toMatchObject({ strategy: 'delete', skippedTriggers: true, rowsMoved: 360 });
    expect(result.finalPhase.deleteMs).toBeGreaterThan(0);
    expect(await digests(t.sql)).toEqual(beforeDelete);
    const byPart = await rowsByPartition(t.sql);
    expect(byPart.leaderboard_run_s15).toBe(60);
    expect(byPart.run_group_member_s15).toBe(300);
  });
});
