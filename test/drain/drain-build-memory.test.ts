import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { planStatements } from '../../src/run/step-statements.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { recordingDatabase } from '../support/recording.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * drainKey's `maintenanceWorkMem`: the memory each index build after the copy sorts in. What
 * must hold: every build runs with it (in the build's own transaction: read back by an event
 * trigger in that transaction), the dry run prints it, and a size the server would refuse stops
 * the drain before anything is made.
 */
const t = useTestDatabase();

const readings = parseFamily({
  name: 'readings',
  tables: ['readings'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});

const month = (m: number) =>
  ({
    kind: 'range',
    from: new Date(Date.UTC(2026, m - 1, 1)),
    to: new Date(Date.UTC(2026, m, 1)),
  }) as const;

/** 40,000 rows a month in DEFAULT, three months. */
async function setUp() {
  await t.sql.unsafe(`
    CREATE TABLE readings (id bigint NOT NULL, at timestamptz NOT NULL, value int,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE INDEX ON readings (value);
    CREATE TABLE readings_default PARTITION OF readings DEFAULT;
    INSERT INTO readings SELECT i, timestamptz '2026-03-01 00:00:00+00' + (i % 40000) * interval '1 minute' + (i / 40000) * interval '1 month', i % 97
      FROM generate_series(0, 119999) i;`);
}

/**
 * Records, for every CREATE INDEX, its table and the maintenance_work_mem it ran with: an event
 * trigger runs in the transaction of the statement that fired it, so it reads the build's own
 * setting.
 */
async function noteBuilds() {
  await t.sql.unsafe(`
    CREATE TABLE build_settings (tbl text, mem text);
    CREATE FUNCTION note_build() RETURNS event_trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO build_settings
        SELECT i.indrelid::regclass::text, current_setting('maintenance_work_mem')
        FROM pg_event_trigger_ddl_commands() c JOIN pg_index i ON i.indexrelid = c.objid
        WHERE c.command_tag = 'CREATE INDEX';
    END $$;
    CREATE EVENT TRIGGER note_build ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
      EXECUTE FUNCTION note_build();`);
}

/** The maintenance_work_mem each index build on `table` ran with. */
async function buildMemory(table: string): Promise<string[]> {
  const rows = await t.sql<{ mem: string }[]>`
    SELECT mem FROM build_settings WHERE tbl = ${table} ORDER BY mem`;
  return rows.map((r) => r.mem);
}

describe('drainKey maintenanceWorkMem', () => {
  it("runs every index build with it, in the build's own transaction", async () => {
    await setUp();
    await noteBuilds();
    const before = await tableDigest(t.sql, 'readings', ['id', 'at']);
    const dry = await drainDryRun(t.db, readings, month(3), {
      maintenanceWorkMem: '1MB',
      sideBySide: false,
    });
    const setting = "set_config('maintenance_work_mem', '1MB', true)";
    expect(dry.statements.filter((s) => s.includes(setting))).toHaveLength(1);
    const recorded = recordingDatabase(t);
    const result = await drainKey(recorded.db, readings, month(3), {
      maintenanceWorkMem: '1MB',
      sideBySide: false,
    });
    await recorded.close();
    // A DEFAULT pgparts did not make: the rows are deleted from it, and the indexes built are
    // the new partition's, its primary key and the parent's index on value.
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 40_000 });
    // Each build in a transaction that sets the memory first.
    const builds = recorded.statements
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => /^CREATE (UNIQUE )?INDEX.* ON "public"."readings_2026_03"/.test(s));
    expect(builds).toHaveLength(2);
    for (const { i } of builds) {
      expect(recorded.statements[i - 1]).toBe(`SELECT ${setting}`);
      expect(recorded.statements[i - 2]).toBe('BEGIN');
    }
    // What the server ran each build with; pgparts's own bookkeeping index, made with the
    // session's setting, is not one of them.
    expect(await buildMemory('readings_2026_03')).toEqual(['1MB', '1MB']);
    const [session] = await t.sql<
      { mem: string }[]
    >`SELECT current_setting('maintenance_work_mem') AS mem`;
    expect(await buildMemory('pgparts_changes')).toEqual([session?.mem]);
    expect(await tableDigest(t.sql, 'readings', ['id', 'at'])).toEqual(before);
    const [moved] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM readings_2026_03`;
    expect(moved?.n).toBe(40_000);
  });

  it('side by side, with the setting that keeps each build in one process', async () => {
    const recorded = recordingDatabase(t);
    const result = await drainKey(recorded.db, readings, month(4), { maintenanceWorkMem: '96MB' });
    await recorded.close();
    expect(result).toMatchObject({ status: 'drained', rowsMoved: 40_000 });
    const settings = recorded.statements.filter((s) => s.includes('maintenance_work_mem'));
    expect(settings).toHaveLength(2);
    for (const s of settings)
      expect(s).toBe(
        "SELECT set_config('max_parallel_maintenance_workers', '0', true), set_config('maintenance_work_mem', '96MB', true)",
      );
    expect(await buildMemory('readings_2026_04')).toEqual(['96MB', '96MB']);
  });

  it('refuses a size the server would refuse, before making anything', async () => {
    for (const [size, why] of [
      ['512kB', 'from 1MB to 2047GB'],
      ['3TB', 'from 1MB to 2047GB'],
      ['64mb', 'such as'],
      ['64 MB', 'such as'],
      ['lots', 'such as'],
      ['0MB', 'such as'],
    ] as const) {
      const error = expectPgpartsError(
        await rejection(drainKey(t.db, readings, month(5), { maintenanceWorkMem: size })),
        'invalid-config',
        { message: /maintenanceWorkMem/ },
      );
      // One reason, the one that applies.
      expect(error.message).toContain(why);
      expect(error.message.match(/maintenanceWorkMem/g)).toHaveLength(1);
    }
    const [made] = await t.sql<
      { t: string | null }[]
    >`SELECT to_regclass('readings_2026_05')::text AS t`;
    expect(made?.t).toBeNull();
    const [rows] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM readings_default WHERE at >= '2026-05-01' AND at < '2026-06-01'`;
    expect(rows?.n).toBe(40_000);
  });

  it("apply's drain steps, planned and run, with the memory apply is given", async () => {
    // This month's rows in DEFAULT: apply drains them into the month's partition.
    await t.sql.unsafe(`
      CREATE TABLE counters (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at);
      CREATE TABLE counters_default PARTITION OF counters DEFAULT;
      INSERT INTO counters SELECT i, date_trunc('month', now()) + i * interval '1 second'
        FROM generate_series(1, 5000) i;`);
    const counters = parseFamily({
      name: 'counters',
      tables: ['counters'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
      defaultPartition: true,
    });
    const planned = await planStatements(t.db, [counters], { maintenanceWorkMem: '48MB' });
    const drain = planned.steps.find((s) => s.kind === 'drain');
    // A template: a comment line says each build runs in a transaction that starts with it.
    expect(
      drain?.sql.filter((line) =>
        line.endsWith("\nSELECT set_config('maintenance_work_mem', '48MB', true)"),
      ),
    ).toHaveLength(1);
    const result = await apply(t.db, { families: [counters], maintenanceWorkMem: '48MB' });
    expect(result.ok).toBe(true);
    expect(result.results.filter((r) => r.step.kind === 'drain').map((r) => r.outcome)).toEqual([
      'done',
    ]);
    const [partition] = await t.sql<{ name: string }[]>`
      SELECT tableoid::regclass::text AS name FROM counters LIMIT 1`;
    expect(partition?.name).not.toBe('counters_default');
    expect(await buildMemory(partition?.name ?? '')).toEqual(['48MB']);
    expectPgpartsError(
      await rejection(apply(t.db, { families: [counters], maintenanceWorkMem: '48 MB' })),
      'invalid-config',
      { message: /maintenanceWorkMem/ },
    );
    expectPgpartsError(
      await rejection(planStatements(t.db, [counters], { maintenanceWorkMem: '4GiB' })),
      'invalid-config',
      { message: /maintenanceWorkMem/ },
    );
  });
});
