import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { keyBuildName } from '../../src/ops/drain/indexes.js';
import {
  digests,
  insertRuns,
  rowsByPartition,
  setupSeasons,
} from '../drain/leaderboard-fixture.js';
import { useTestDatabase } from '../support/test-database.js';
import { pgparts } from './run-cli.js';

const t = useTestDatabase();

beforeAll(async () => {
  await setupSeasons(t.sql);
  await insertRuns(t.sql, 14, 50);
});

describe('pgparts drain / retire / reattach', () => {
  it('drain --dry-run prints the statements the drain would run (batches as templates), runs nothing', async () => {
    const before = await rowsByPartition(t.sql);
    const dry = await pgparts(t.url, 'drain', 'leaderboard_run', '14', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(
      /pgparts drain --dry-run leaderboard 14 .*\(nothing is run\); final phase: (swap|delete)/,
    );
    expect(dry.stdout).toContain(
      'CREATE TABLE "public"."leaderboard_run_s14" (LIKE "public"."leaderboard_run" INCLUDING ALL EXCLUDING IDENTITY EXCLUDING INDEXES EXCLUDING COMMENTS);',
    );
    expect(dry.stdout).toContain('-- copy batch: one per 512 pages of leaderboard_run_default');
    // The parent's primary key, built on the staging table after the copy: its index under a
    // working name, then made the key (and renamed) in the statement that adds the constraint.
    const working = keyBuildName('public', 'leaderboard_run_s14');
    expect(dry.stdout).toContain(
      `CREATE UNIQUE INDEX IF NOT EXISTS "${working}" ON "public"."leaderboard_run_s14" USING btree`,
    );
    expect(dry.stdout).toContain(
      `EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I PRIMARY KEY USING INDEX %I',\n                 '"public"."leaderboard_run_s14"', name, '${working}');`,
    );
    expect(dry.stdout).toContain("ctid >= '(«first page»,0)'::tid");
    // Its key and its other indexes are built side by side; --no-side-by-side keeps them on the
    // drain's connection, one after the other, and the dry run says no more of it.
    const sideBySide = 'are built side by side where the pool has a second connection free';
    expect(dry.stdout).toContain(sideBySide);
    const oneLane = await pgparts(
      t.url,
      'drain',
      'leaderboard_run',
      '14',
      '--dry-run',
      '--no-side-by-side',
      '--maintenance-work-mem',
      '128MB',
    );
    expect(oneLane.code).toBe(0);
    expect(oneLane.stdout).not.toContain(sideBySide);
    expect(oneLane.stdout).not.toContain('max_parallel_maintenance_workers');
    // --maintenance-work-mem: each build in its own transaction, with that much memory.
    expect(oneLane.stdout).toContain("SELECT set_config('maintenance_work_mem', '128MB', true)");
    expect(dry.stdout).not.toContain('maintenance_work_mem');
    // The same option of plan and apply, checked as the API checks it, before anything runs.
    for (const command of ['plan', 'apply']) {
      const refused = await pgparts(t.url, command, '--maintenance-work-mem', '64 MB');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(
        "expected a memory size such as '256MB' or '1GB', got 64 MB",
      );
    }
    expect(oneLane.stdout).toContain(
      `CREATE UNIQUE INDEX IF NOT EXISTS "${working}" ON "public"."leaderboard_run_s14" USING btree`,
    );
    expect(dry.stdout).toMatch(
      /ALTER TABLE "public"."leaderboard_run" ATTACH PARTITION "public"."leaderboard_run_s14" FOR VALUES IN \(14\);/,
    );
    expect(await rowsByPartition(t.sql)).toEqual(before);
    const staging = await t.sql`SELECT to_regclass('public.leaderboard_run_s14') AS t`;
    expect(staging[0]?.t).toBeNull();
  });

  it('drain moves a season out of DEFAULT and says how long writes waited', async () => {
    const before = await digests(t.sql);
    const run = await pgparts(t.url, 'drain', 'leaderboard_run', '14');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('leaderboard_run_s14: 50 rows moved');
    expect(run.stdout).toContain('run_group_member_s14: 250 rows moved');
    expect(run.stdout).toMatch(
      /drained leaderboard 14: 300 rows in .*; locks held .* \((DEFAULT swapped|deleted from DEFAULT)/,
    );
    expect(await digests(t.sql)).toEqual(before);
  });

  it('drain --abandon gives up an interrupted drain: --dry-run prints it, then it drops what the drain made', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (15, 'S15')`;
    await insertRuns(t.sql, 15, 30, 15_000);
    const before = await digests(t.sql);
    const stop = new Error('stopped after the copy');
    await expect(
      drainKey(
        t.db,
        leaderboardFamily,
        { kind: 'list', value: 15 },
        {
          onPhase: (phase) => {
            if (phase === 'copied') throw stop;
          },
        },
      ),
    ).rejects.toBe(stop);
    const dry = await pgparts(t.url, 'drain', '--abandon', 'leaderboard_run', '15', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('pgparts drain --abandon --dry-run leaderboard 15');
    expect(dry.stdout).toContain('DROP TABLE "public"."leaderboard_run_s15"');
    const done = await pgparts(t.url, 'drain', '--abandon', 'leaderboard_run', '15');
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(
      /abandoned the drain of leaderboard 15: dropped .*leaderboard_run_s15.*; capture triggers dropped on .*; every row stays in DEFAULT/,
    );
    expect(await digests(t.sql)).toEqual(before);
    const left = await t.sql`
      SELECT relname FROM pg_class WHERE relname IN ('leaderboard_run_s15', 'run_group_member_s15')`;
    expect(left).toHaveLength(0);
    const again = await pgparts(t.url, 'drain', '--abandon', 'leaderboard_run', '15');
    expect(again.stdout).toContain('no drain of the key was left; nothing to abandon');
  });

  it('refuses bad keys and unknown tables before connecting', async () => {
    const bad = await pgparts(t.url, 'drain', 'leaderboard_run', '2025-06');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('not one');
    const unknown = await pgparts(t.url, 'retire', 'nope', '1', '--yes');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('not a table of any declared family');
  });

  it('retire --dry-run names what it would drop; without --yes and no terminal it refuses', async () => {
    const dry = await pgparts(t.url, 'retire', 'leaderboard_run', '14', '--dry-run');
    expect(dry.stdout).toContain('would detach and DROP run_group_member_s14, leaderboard_run_s14');
    // The exact statements, referencing table first, each DETACH before its DROP.
    const detach = dry.stdout.indexOf(
      'ALTER TABLE "public"."run_group_member" DETACH PARTITION "public"."run_group_member_s14"',
    );
    const drop = dry.stdout.indexOf('DROP TABLE "public"."run_group_member_s14";');
    const runs = dry.stdout.indexOf(
      'ALTER TABLE "public"."leaderboard_run" DETACH PARTITION "public"."leaderboard_run_s14"',
    );
    expect(detach).toBeGreaterThan(0);
    expect(drop).toBeGreaterThan(detach);
    expect(runs).toBeGreaterThan(drop);
    // Without --yes, what it would run comes first (the dry run's words), then the question.
    const refused = await pgparts(t.url, 'retire', 'leaderboard_run', '14');
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(dry.stdout);
    expect(refused.stderr).toContain('pass --yes');
    expect((await rowsByPartition(t.sql)).leaderboard_run_s14).toBe(50);
    // A key the checks refuse is refused before any question: --yes would not help.
    const current = await pgparts(t.url, 'retire', 'leaderboard_run', '99');
    expect(current.code).toBe(1);
    expect(current.stderr).not.toContain('pass --yes');
    expect(current.stderr).toMatch(/^pgparts: retire: family leaderboard, key 99: /);
  });

  it('drain and unretire take --yes too, and ask nothing either way', async () => {
    const drain = await pgparts(t.url, 'drain', 'leaderboard_run', '14', '--dry-run', '--yes');
    expect(drain.code, drain.stderr).toBe(0);
    expect(drain.stdout).toContain('(nothing is run)');
    const unretire = await pgparts(t.url, 'unretire', 'leaderboard_run', '77', '--yes');
    expect(unretire.code, unretire.stderr).toBe(0);
    expect(unretire.stdout).toContain('leaderboard 77: was not retired; nothing to do');
  });

  it('retire --archive then reattach round-trips every row', async () => {
    const before = await digests(t.sql);
    // The rows it prints are the planner's estimate.
    await t.sql`ANALYZE run_group_member_s14`;
    const archived = await pgparts(t.url, 'retire', 'leaderboard_run', '14', '--archive', '--yes');
    expect(archived.code).toBe(0);
    expect(archived.stdout).toContain(
      'run_group_member_s14: archived as pgparts_archive.run_group_member_s14 (~250 rows)',
    );
    expect(archived.stdout).toContain('archived as pgparts_archive.leaderboard_run_s14');
    expect((await rowsByPartition(t.sql)).leaderboard_run_s14).toBeUndefined();
    // With --yes, as a script passes it to every command that changes something: reattach asks
    // nothing, and takes it.
    const back = await pgparts(t.url, 'reattach', 'run_group_member', '14', '--yes');
    expect(back.code).toBe(0);
    expect(back.stdout).toContain('run_group_member_s14: attached, 250 rows');
    expect(await digests(t.sql)).toEqual(before);
  });
});

/**
 * A table `name` LIST-partitioned by n, and a folder with a JSON config declaring it as a family
 * of values 1 and 2 (plus `extra`); remove `dir` after.
 */
async function notesFamily(
  name: string,
  extra: Record<string, unknown> = {},
): Promise<{ dir: string; config: string }> {
  await t.sql.unsafe(`
    CREATE TABLE ${name} (id bigint NOT NULL, n int NOT NULL, PRIMARY KEY (id, n)) PARTITION BY LIST (n)`);
  const dir = mkdtempSync(join(tmpdir(), `pgparts-${name}-`));
  const config = join(dir, 'pgparts.config.json');
  const family = {
    name,
    tables: [name],
    partitionBy: { strategy: 'list', column: 'n', values: [1, 2] },
    ...extra,
  };
  writeFileSync(config, JSON.stringify({ families: [family] }));
  return { dir, config };
}

describe('pgparts retire takes the mode of the family’s spec', () => {
  it('archives what the spec archives unless told --drop; --archive with --drop is refused', async () => {
    const { dir, config } = await notesFamily('rm_notes', {
      retention: { keep: 1, mode: 'archive' },
    });
    const retire = (...flags: string[]) =>
      pgparts(t.url, '--config', config, 'retire', 'rm_notes', '1', ...flags);
    try {
      expect((await pgparts(t.url, '--config', config, 'apply')).code).toBe(0);
      const spec = await retire('--force', '--dry-run');
      expect(spec.stdout, spec.stderr).toContain(
        'would detach and archive rm_notes_s1 (rm_notes 1)',
      );
      const drop = await retire('--drop', '--force', '--dry-run');
      expect(drop.stdout, drop.stderr).toContain('would detach and DROP rm_notes_s1 (rm_notes 1)');
      const both = await retire('--drop', '--archive', '--yes');
      expect(both.code).toBe(1);
      expect(both.stderr).toContain('--archive or --drop, not both');
      const archived = await retire('--force', '--yes');
      expect(archived.code, archived.stderr).toBe(0);
      const [where] = await t.sql<{ schema: string }[]>`
        SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = 'rm_notes_s1'`;
      expect(where?.schema).toBe('pgparts_archive');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pgparts retire of a key with no partitions', () => {
  it('one never made nor retired is refused (exit 1, a typo?); one retired already is a success', async () => {
    const { dir, config } = await notesFamily('rt_notes');
    const retire = (key: string, ...flags: string[]) =>
      pgparts(t.url, '--config', config, 'retire', 'rt_notes', key, ...flags);
    try {
      expect((await pgparts(t.url, '--config', config, 'apply')).code).toBe(0);
      // It exited 0 with "no partitions to retire", where a drain of it says "a typo?" and exits 1.
      for (const flags of [['--dry-run'], ['--yes']]) {
        const typo = await retire('7', ...flags);
        expect(typo.code, flags.join(' ')).toBe(1);
        expect(typo.stdout).toBe('');
        expect(typo.stderr.trim()).toBe(
          'pgparts: retire: family rt_notes, key 7: no table of the family has a partition of it, ' +
            'and it is not recorded as retired: there is nothing to retire (a typo?); nothing was changed',
        );
      }
      const [recorded] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pgparts_retired_keys WHERE family = 'rt_notes'`;
      expect(recorded?.n).toBe(0);
      // Retired, then run again (a script's re-run): exit 0 each time, dry run included.
      expect((await retire('1', '--force', '--yes')).code).toBe(0);
      const again = await retire('1', '--force', '--yes');
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toContain('rt_notes 1: no partitions to retire: it is retired already');
      const dry = await retire('1', '--force', '--dry-run');
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toContain(
        'no partitions to retire: it is retired already (nothing is run)',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pgparts apply prints what plan says beside its steps', () => {
  it('a partition outside retention that pgparts did not make: the notice, as plan shows it', async () => {
    await t.sql.unsafe(`
      CREATE TABLE an_events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      CREATE TABLE an_events_2020_01 PARTITION OF an_events
        FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00');`);
    const dir = mkdtempSync(join(tmpdir(), 'pgparts-notices-'));
    const config = join(dir, 'pgparts.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        families: [
          {
            name: 'an_events',
            tables: ['an_events'],
            partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
            retention: { keep: 3 },
          },
        ],
      }),
    );
    try {
      const applied = await pgparts(t.url, '--config', config, 'apply');
      expect(applied.code, applied.stderr).toBe(0);
      expect(applied.stdout).toContain(
        '[info] an_events: 2020-01-01..2020-02-01 is outside the retention window',
      );
      expect(applied.stdout).toContain('an_events_2020_01 was not created by pgparts: left alone');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retire of partitions never analyzed says their rows are not estimated, not ~0', async () => {
    // A new season's partitions, made by apply (their indexes built empty), then filled: the
    // planner has no estimate until the first VACUUM or ANALYZE (reltuples -1).
    await t.sql`INSERT INTO season (id, name) VALUES (16, 'S16')`;
    expect((await pgparts(t.url, 'apply')).code).toBe(0);
    await insertRuns(t.sql, 16, 40, 16_000);
    const [estimate] = await t.sql<{ tuples: number }[]>`
      SELECT reltuples::float8 AS tuples FROM pg_class WHERE oid = 'leaderboard_run_s16'::regclass`;
    expect(estimate?.tuples).toBe(-1);
    const dropped = await pgparts(t.url, 'retire', 'leaderboard_run', '16', '--yes');
    expect(dropped.code).toBe(0);
    expect(dropped.stdout).toContain(
      'leaderboard_run_s16: dropped (rows not estimated: never analyzed)',
    );
    expect(dropped.stdout).not.toContain('~0 rows');
  });
});
