import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/migrations/migrate.js';
import { migrationCount } from '../support/migration-count.js';
import { useTestDatabase } from '../support/test-database.js';

/** A fresh, empty database migrated here (not cloned from the template). */
const t = useTestDatabase({ migrated: false });

const PARTITIONED = {
  leaderboard_run: ['l', 'season_id'],
  run_group_member: ['l', 'season_id'],
  killmails_raw: ['r', 'killmail_time'],
  killmails_enriched: ['r', 'killmail_time'],
  killmail_participants: ['r', 'killmail_time'],
} as const;

describe('migrate() on a fresh database', () => {
  it('creates every partitioned parent with its strategy and key', async () => {
    // Migrated from a session far from UTC: the partition bounds must not shift (docs/postgres-behaviours.md#bounds-and-time-zones).
    await migrate(drizzle(t.connect({ max: 1, connection: { TimeZone: 'America/New_York' } })));
    const rows = await t.sql<{ table: string; strategy: string; key: string }[]>`
      SELECT c.relname AS table, p.partstrat AS strategy,
             (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                FROM unnest(p.partattrs) WITH ORDINALITY k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS key
      FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
      ORDER BY c.relname`;
    const actual = Object.fromEntries(rows.map((r) => [r.table, [r.strategy, r.key]]));
    expect(actual).toEqual(PARTITIONED);
  });

  it('is idempotent: a second migrate applies nothing, changes nothing and says nothing', async () => {
    const before = await t.sql`SELECT count(*)::int AS n FROM pgparts.migrations`;
    // The app's notice handler (postgres.js prints notices by default) hears nothing: its
    // record's CREATE ... IF NOT EXISTS said "already exists, skipping" on every start-up.
    const notices: string[] = [];
    await migrate(drizzle(t.connect({ max: 1, onnotice: (n) => notices.push(String(n.message)) })));
    const after = await t.sql`SELECT count(*)::int AS n FROM pgparts.migrations`;
    expect(after[0]?.n).toBe(before[0]?.n);
    expect(before[0]?.n).toBe(migrationCount());
    expect(notices).toEqual([]);
  });

  it('gives the leaderboard tables DEFAULT partitions, marked as pgparts-managed', async () => {
    const rows = await t.sql<{ parent: string; child: string; comment: string }[]>`
      SELECT parent.relname AS parent, child.relname AS child,
             obj_description(child.oid, 'pg_class') AS comment
      FROM pg_inherits i
      JOIN pg_class parent ON parent.oid = i.inhparent
      JOIN pg_class child ON child.oid = i.inhrelid
      WHERE pg_get_expr(child.relpartbound, child.oid) = 'DEFAULT'
      ORDER BY 1`;
    expect(rows).toEqual([
      { parent: 'leaderboard_run', child: 'leaderboard_run_default', comment: 'pgparts:managed' },
      { parent: 'run_group_member', child: 'run_group_member_default', comment: 'pgparts:managed' },
    ]);
  });

  it('creates the killmail months from 12 back to 3 ahead, bounds at UTC midnight', async () => {
    // pg_get_expr prints timestamptz bounds in the session's zone: read them in UTC.
    const utc = t.connect({ max: 1, connection: { TimeZone: 'UTC' } });
    const parts = await utc<{ child: string; bound: string }[]>`
      SELECT child.relname AS child, pg_get_expr(child.relpartbound, child.oid) AS bound
      FROM pg_inherits i JOIN pg_class child ON child.oid = i.inhrelid
      WHERE i.inhparent = 'killmails_raw'::regclass ORDER BY 1`;
    expect(parts).toHaveLength(16);
    const now = new Date();
    const month = (offset: number) =>
      new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
    const name = (d: Date) =>
      `killmails_raw_${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
    expect(parts[0]?.child).toBe(name(month(-12)));
    expect(parts.at(-1)?.child).toBe(name(month(3)));
    const current = parts.find((p) => p.child === name(month(0)));
    const iso = (d: Date) => `${d.toISOString().slice(0, 10)} 00:00:00+00`;
    expect(current?.bound).toBe(`FOR VALUES FROM ('${iso(month(0))}') TO ('${iso(month(1))}')`);
  });

  it('adds the composite foreign keys', async () => {
    const rows = await t.sql<{ name: string; def: string }[]>`
      SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE contype = 'f' AND conparentid = 0
        AND conname IN ('run_group_member_run_fkey', 'killmails_enriched_raw_fkey',
                        'killmail_participants_raw_fkey')
      ORDER BY conname`;
    expect(rows).toEqual([
      {
        name: 'killmail_participants_raw_fkey',
        def: 'FOREIGN KEY (killmail_id, killmail_time) REFERENCES killmails_raw(killmail_id, killmail_time) ON DELETE CASCADE',
      },
      {
        name: 'killmails_enriched_raw_fkey',
        def: 'FOREIGN KEY (killmail_id, killmail_time) REFERENCES killmails_raw(killmail_id, killmail_time) ON DELETE CASCADE',
      },
      {
        name: 'run_group_member_run_fkey',
        def: 'FOREIGN KEY (season_id, run_guid) REFERENCES leaderboard_run(season_id, run_guid) ON DELETE CASCADE',
      },
    ]);
  });
});
