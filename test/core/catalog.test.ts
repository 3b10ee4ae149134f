import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { defaultRowsSql } from '../../src/catalog/default-rows.js';
import { inspect } from '../../src/catalog/inspect.js';
import { probeKeys } from '../../src/catalog/probe-keys.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { keyLabel, type PartitionKey } from '../../src/define/partition-key.js';
import { parseFamily } from '../../src/define/spec.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { plan } from '../../src/plan/plan.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { rowsOf } from '../../src/run/rows.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

const ZONES = ['America/New_York', 'Asia/Kolkata', 'Pacific/Chatham'];
const thisMonth = () => intervalStart('month', new Date());

/** Every killmail partition bound as a UTC session prints it. */
async function boundsInUtc(): Promise<Record<string, string>> {
  const utc = t.connect({ max: 1, connection: { TimeZone: 'UTC', DateStyle: 'ISO, YMD' } });
  const rows = await utc<{ name: string; bound: string }[]>`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent IN ('killmails_raw'::regclass, 'killmails_enriched'::regclass,
                          'killmail_participants'::regclass)
    ORDER BY 1`;
  await utc.end();
  return Object.fromEntries(rows.map((r) => [r.name, r.bound]));
}

describe('bounds do not depend on the session TimeZone or DateStyle', () => {
  it.each(ZONES.map((zone, i) => [zone, i]))(
    'apply from a %s session writes UTC-midnight bounds; inspect reads them back alike',
    async (zone, i) => {
      const session = t.connect({ max: 2, connection: { TimeZone: zone, DateStyle: 'SQL, DMY' } });
      const db = drizzle(session);
      // Each zone plans for a later month, so each one creates partitions of its own.
      const now = addIntervals('month', thisMonth(), 4 + Number(i));
      const result = await apply(db, { families: [killmailFamily], now, retention: false });
      expect(result.ok).toBe(true);
      const created = result.results.filter((r) => r.outcome === 'done');
      expect(created.length).toBeGreaterThan(0);

      const bounds = await boundsInUtc();
      for (const r of created) {
        if (r.step.key.kind !== 'range') throw new Error('range key expected');
        const iso = (d: Date) => `${d.toISOString().slice(0, 10)} 00:00:00+00`;
        expect(bounds[r.step.partitions[0] ?? '']).toBe(
          `FOR VALUES FROM ('${iso(r.step.key.from)}') TO ('${iso(r.step.key.to)}')`,
        );
      }

      // Read from this zone and from UTC: the same keys, and nothing left to plan.
      const here = await inspect(db, [killmailFamily]);
      const utcDb = drizzle(t.connect({ max: 1, connection: { TimeZone: 'UTC' } }));
      const there = await inspect(utcDb, [killmailFamily]);
      const keys = (s: typeof here) =>
        s.families[0]?.tables.map((table) =>
          table.partitions.map((p) => `${p.name}=${p.key ? keyLabel(p.key) : p.bound}`),
        );
      expect(keys(here)).toEqual(keys(there));
      expect(here.families[0]?.tables[0]?.partitions.every((p) => p.key !== null)).toBe(true);
      expect(plan([killmailFamily], here, now, { retention: false }).steps).toEqual([]);
      await session.end();
    },
  );

  it('counts DEFAULT rows per UTC interval, whatever the session zone', async () => {
    await t.sql.unsafe(`
      CREATE TABLE tz_events (at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE TABLE tz_events_default PARTITION OF tz_events DEFAULT;
      INSERT INTO tz_events VALUES ('2026-06-01 02:00:00+00', 'june in UTC, may in New York'),
                                   ('2026-05-31 23:00:00+00', 'may'),
                                   ('2026-05-31 22:00:00+00', 'may');`);
    const events = parseFamily({
      name: 'tz_events',
      tables: ['tz_events'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0 },
      defaultPartition: true,
    });
    const ny = drizzle(t.connect({ max: 1, connection: { TimeZone: 'America/New_York' } }));
    const june = new Date('2026-06-15T00:00:00Z');
    const defaultOf = (s: Awaited<ReturnType<typeof inspect>>) =>
      s.families[0]?.tables[0]?.partitions[0]?.defaultRows;

    // Probed for June 2026 (the clock it will be planned for): June holds a row, in UTC.
    const probed = await inspect(ny, [events], { now: june });
    const rows = defaultOf(probed);
    expect(rows?.hasRows).toBe(true);
    expect(rows?.probes.map((p) => [keyLabel(p.key), p.hasRows])).toEqual([
      ['2026-06-01..2026-07-01', true],
    ]);
    expect(rows?.found.map((k) => keyLabel(k))).toEqual([
      '2026-05-01..2026-06-01',
      '2026-06-01..2026-07-01',
    ]);
    expect(rows?.foundAll).toBe(true);
    expect(rows?.exact).toBeNull();
    // Planned for June 2026: June needs a partition, but DEFAULT holds a June row: a drain.
    expect(plan([events], probed, june).steps.map((s) => [s.kind, s.label, s.rows])).toEqual([
      ['drain', '2026-06-01..2026-07-01', undefined],
    ]);
    // Inspected for today's clock, planned for June: the complete search of DEFAULT decides.
    const today = await inspect(ny, [events]);
    expect(plan([events], today, june).steps.map((s) => [s.kind, s.label])).toEqual([
      ['drain', '2026-06-01..2026-07-01'],
    ]);

    // Counted exactly when asked: per UTC interval, and the drain says how many rows it moves.
    const counted = await inspect(ny, [events], { now: june, exactDefaultRows: true });
    const exact = defaultOf(counted)?.exact;
    expect(exact?.total).toBe(3);
    expect(exact?.byKey.map((k) => [keyLabel(k.key), k.rows])).toEqual([
      ['2026-05-01..2026-06-01', 2],
      ['2026-06-01..2026-07-01', 1],
    ]);
    expect(plan([events], counted, june).steps.map((s) => [s.kind, s.label, s.rows])).toEqual([
      ['drain', '2026-06-01..2026-07-01', 1],
    ]);
  });
});

describe('catalog snapshot', () => {
  it("reads sizes, the marker, valuesFrom and the parents' actual keys", async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (21, 'a'), (22, 'b') ON CONFLICT DO NOTHING`;
    const snapshot = await inspect(t.db, [leaderboardFamily, killmailFamily], { sizes: true });
    const [leaderboard, killmails] = snapshot.families;
    expect(leaderboard?.sourceValues).toEqual(expect.arrayContaining([21, 22]));
    expect(leaderboard?.tables[0]?.parent).toMatchObject({
      relkind: 'p',
      strategy: 'list',
      keyColumns: ['season_id'],
      keyDefinition: 'LIST (season_id)',
      keyType: 'integer',
    });
    expect(killmails?.tables[0]?.parent?.keyType).toBe('timestamp with time zone');
    const first = killmails?.tables[0]?.partitions[0];
    expect(first?.managed).toBe(true);
    expect(first?.bytes).toBeGreaterThan(0);
    expect(Math.abs(snapshot.takenAt.getTime() - Date.now())).toBeLessThan(60_000);
    expect(snapshot.serverVersion).toBeGreaterThanOrEqual(140000);
  });

  it('reports a partition pgparts did not create, named its own way, with an index adopted in the wrong order', async () => {
    // docs/postgres-behaviours.md#parent-indexes-and-sort-order: an all-ASC index is adopted as the partition of the parent's DESC index.
    await t.sql.unsafe(`
      CREATE TABLE old_raw (LIKE killmails_raw INCLUDING DEFAULTS);
      CREATE INDEX old_raw_time_asc ON old_raw (killmail_time);
      ALTER TABLE killmails_raw ATTACH PARTITION old_raw
        FOR VALUES FROM ('2020-01-01 00:00:00+00') TO ('2020-02-01 00:00:00+00');`);
    const snapshot = await inspect(t.db, [killmailFamily]);
    const anomalies =
      snapshot.families[0]?.anomalies.filter((a) => a.partition === 'old_raw') ?? [];
    expect(anomalies.map((a) => [a.kind, a.severity])).toEqual([
      ['foreign-name', 'info'],
      ['unmanaged', 'info'],
      ['index-order', 'warning'],
    ]);
    expect(anomalies[0]?.message).toBe(
      'old_raw holds 2020-01-01..2020-02-01; pgparts would name it killmails_raw_2020_01',
    );
    expect(anomalies[2]?.message).toMatch(
      /index old_raw_time_asc of old_raw orders its columns differently from idx_killmails_raw_time/,
    );
    // Far outside retention, but not pgparts's: never a step, only a notice.
    const planned = plan([killmailFamily], snapshot, snapshot.takenAt);
    expect(planned.steps.some((s) => s.partitions.includes('old_raw'))).toBe(false);
    expect(planned.notices.find((n) => n.kind === 'retention-skipped')?.message).toMatch(
      /2020-01-01\.\.2020-02-01 is outside the retention window .* but old_raw was not created by pgparts: left alone/,
    );
    // docs/postgres-behaviours.md#drop-order-with-foreign-keys: a referenced partition is detached before it can be dropped.
    await t.sql.unsafe('ALTER TABLE killmails_raw DETACH PARTITION old_raw; DROP TABLE old_raw');
  });

  it('reports a gap between RANGE partitions', async () => {
    const later = addIntervals('month', thisMonth(), 30);
    await t.sql.unsafe(`CREATE TABLE killmails_raw_far PARTITION OF killmails_raw
      FOR VALUES FROM ('${later.toISOString().slice(0, 10)} 00:00:00+00') TO ('${addIntervals('month', later, 1).toISOString().slice(0, 10)} 00:00:00+00')`);
    const snapshot = await inspect(t.db, [killmailFamily]);
    const gap = snapshot.families[0]?.anomalies.find((a) => a.kind === 'gap');
    expect(gap?.severity).toBe('warning');
    expect(gap?.message).toMatch(
      /^killmails_raw has no partition for .* \(between killmails_raw_\d{4}_\d{2} and killmails_raw_far\)/,
    );
    await t.sql.unsafe(
      'ALTER TABLE killmails_raw DETACH PARTITION killmails_raw_far; DROP TABLE killmails_raw_far',
    );
  });
});

describe('drain steps in apply', () => {
  it('run drainKey: the rows that arrived first move into the new partitions', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (30, 'in DEFAULT'), (31, 'empty')`;
    await t.sql`INSERT INTO leaderboard_run (run_guid, season_id)
                SELECT gen_random_uuid(), 30 FROM generate_series(1, 7)`;
    const result = await apply(t.db, { families: [leaderboardFamily] });
    expect(result.ok).toBe(true);
    const byKey = result.results.map((r) => [r.step.kind, r.step.label, r.outcome]);
    expect(byKey).toContainEqual(['drain', '30', 'done']);
    expect(byKey).toContainEqual(['create', '31', 'done']);
    const drain = result.results.find((r) => r.step.kind === 'drain');
    // The plan knows DEFAULT holds rows of 30 (a probe, not a count); the drain counts what it moved.
    expect(drain?.step.reason).toMatch(/leaderboard_run_default holds some row\(s\) for it/);
    expect(drain?.message).toMatch(/^7 rows moved in \d+ ms/);
    const [moved] = await t.sql<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM leaderboard_run_s30`;
    expect(moved?.n).toBe(7);
  });

  it('report a failing drain and go on with the rest of the run', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (32, 'in DEFAULT'), (33, 'empty')`;
    await t.sql`INSERT INTO leaderboard_run (run_guid, season_id)
                SELECT gen_random_uuid(), 32 FROM generate_series(1, 3)`;
    const result = await apply(t.db, {
      families: [leaderboardFamily],
      executors: {
        drain: async () => {
          throw new Error('drain failed on purpose');
        },
      },
    });
    expect(result.ok).toBe(false);
    const byKey = result.results.map((r) => [r.step.kind, r.step.label, r.outcome]);
    expect(byKey).toContainEqual(['drain', '32', 'failed']);
    expect(byKey).toContainEqual(['create', '33', 'done']);
    const [count] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM leaderboard_run_default WHERE season_id = 32`;
    expect(count?.n).toBe(3);
  });
});

describe("DEFAULT's occupancy is probed, not counted", () => {
  const events = parseFamily({
    name: 'probe_events',
    tables: ['probe_events'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 2 },
    defaultPartition: true,
  });
  // Installed with premake 1: inspecting with premake 2 asks about the month after (a create).
  const installed = parseFamily({
    ...events,
    partitionBy: { ...events.partitionBy, premake: 1 },
  });
  const month = (offset: number) => addIntervals('month', thisMonth(), offset).toISOString();

  /** Scans of DEFAULT in this transaction so far, as the server counts them. */
  async function scansOfDefault(tx: { execute: typeof t.db.execute }) {
    const [row] = rowsOf<{ seq: number; seqRead: number; idx: number; idxFetch: number }>(
      await tx.execute(sql`
        SELECT coalesce(seq_scan, 0)::int AS seq, coalesce(seq_tup_read, 0)::int AS "seqRead",
               coalesce(idx_scan, 0)::int AS idx, coalesce(idx_tup_fetch, 0)::int AS "idxFetch"
        FROM pg_stat_xact_user_tables WHERE relid = 'probe_events_default'::regclass`),
    );
    return row;
  }

  it('a no-op inspect reads a handful of index entries of DEFAULT, not its 20,000 rows', async () => {
    await t.sql.unsafe(`
      CREATE TABLE probe_events (at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE INDEX ON probe_events (at);
      CREATE TABLE probe_events_default PARTITION OF probe_events DEFAULT;`);
    const apply0 = await apply(t.db, { families: [installed] });
    expect(apply0.ok).toBe(true);
    // 20,000 stray rows of a month a year back: no key the planner asks about.
    await t.sql.unsafe(`
      INSERT INTO probe_events SELECT '${month(-12)}'::timestamptz + i * interval '1 minute', 'stray'
      FROM generate_series(1, 20000) i;`);
    await t.sql.unsafe('VACUUM ANALYZE probe_events');

    // pg_stat_xact_user_tables counts this transaction's scans: inspect runs inside it.
    const seen = await t.db.transaction(async (tx) => {
      const before = await scansOfDefault(tx);
      const snapshot = await inspect(tx, [events]);
      const after = await scansOfDefault(tx);
      return { snapshot, before, after };
    });
    const rows = seen.snapshot.families[0]?.tables[0]?.partitions[0]?.defaultRows;
    expect(rows?.hasRows).toBe(true);
    expect(
      rows?.probes.map((p) => [p.key.kind === 'range' && p.key.from.toISOString(), p.hasRows]),
    ).toEqual([[month(2), false]]);
    expect(rows?.found.map((k) => keyLabel(k))).toEqual([
      `${month(-12).slice(0, 10)}..${month(-11).slice(0, 10)}`,
    ]);
    const read = (s: typeof seen.after) => (s?.seqRead ?? 0) + (s?.idxFetch ?? 0);
    // One EXISTS reads the first row; the probes and the search go through the index.
    expect((seen.after?.idx ?? 0) - (seen.before?.idx ?? 0)).toBeGreaterThan(0);
    expect(read(seen.after) - read(seen.before)).toBeLessThan(20);
    expect(
      plan([events], seen.snapshot, seen.snapshot.takenAt).steps.map((s) => [s.kind, s.label]),
    ).toEqual([['create', `${month(2).slice(0, 10)}..${month(3).slice(0, 10)}`]]);

    // The same measure sees the whole DEFAULT read when the exact count is asked for.
    const counted = await t.db.transaction(async (tx) => {
      const before = await scansOfDefault(tx);
      await inspect(tx, [events], { exactDefaultRows: true });
      return read(await scansOfDefault(tx)) - read(before);
    });
    expect(counted).toBeGreaterThanOrEqual(20000);
  });

  it('without an index leading with the key, one scan of DEFAULT lists its keys and answers the probes', async () => {
    const plain = parseFamily({ ...events, name: 'probe_plain', tables: ['probe_plain'] });
    // An index on another column, and a partial one on the key: neither serves the probes.
    await t.sql.unsafe(`
      CREATE TABLE probe_plain (at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE INDEX ON probe_plain (note);
      CREATE INDEX ON probe_plain (at) WHERE note = 'kept';
      CREATE TABLE probe_plain_default PARTITION OF probe_plain DEFAULT;`);
    expect(
      (
        await apply(t.db, {
          families: [parseFamily({ ...installed, name: 'probe_plain', tables: ['probe_plain'] })],
        })
      ).ok,
    ).toBe(true);
    await t.sql.unsafe(`
      INSERT INTO probe_plain SELECT '${month(-12)}'::timestamptz + i * interval '1 minute', 'stray'
      FROM generate_series(1, 20000) i;`);
    await t.sql.unsafe('VACUUM ANALYZE probe_plain');
    const seen = await t.db.transaction(async (tx) => {
      const scans = async () =>
        rowsOf<{ seq: number; seqRead: number }>(
          await tx.execute(sql`
            SELECT coalesce(seq_scan, 0)::int AS seq, coalesce(seq_tup_read, 0)::int AS "seqRead"
            FROM pg_stat_xact_user_tables WHERE relid = 'probe_plain_default'::regclass`),
        )[0];
      const before = await scans();
      const snapshot = await inspect(tx, [plain]);
      return { snapshot, before, after: await scans() };
    });
    const rows = seen.snapshot.families[0]?.tables[0]?.partitions[0]?.defaultRows;
    expect(rows?.found.map((k) => keyLabel(k))).toEqual([
      `${month(-12).slice(0, 10)}..${month(-11).slice(0, 10)}`,
    ]);
    expect(rows?.probes.map((p) => p.hasRows)).toEqual([false]);
    // The EXISTS (its first row), then one whole scan; not a scan per probe.
    expect((seen.after?.seq ?? 0) - (seen.before?.seq ?? 0)).toBe(2);
    const read = (seen.after?.seqRead ?? 0) - (seen.before?.seqRead ?? 0);
    expect(read).toBeGreaterThanOrEqual(20000);
    expect(read).toBeLessThan(20010);
  });

  it('a DEFAULT found empty gets the bare EXISTS next time; rows that came since are still found, keys and probes', async () => {
    const looked = parseFamily({ ...events, name: 'look_events', tables: ['look_events'] });
    await t.sql.unsafe(`
      CREATE TABLE look_events (at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE INDEX ON look_events (at);
      CREATE TABLE look_events_default PARTITION OF look_events DEFAULT;`);
    const first = await apply(t.db, {
      families: [parseFamily({ ...installed, name: 'look_events', tables: ['look_events'] })],
    });
    expect(first.ok).toBe(true);
    const sent: string[] = [];
    const client = t.connect({ max: 1 });
    const db = drizzle(client, { logger: { logQuery: (query) => sent.push(query) } });
    /** inspect, and what it sent about DEFAULT: its first look, and any read after it. */
    const read = async () => {
      sent.length = 0;
      const snapshot = await inspect(db, [looked]);
      const ofDefault = sent.filter((q) => q.includes('"public"."look_events_default"'));
      return {
        rows: snapshot.families[0]?.tables[0]?.partitions.find((p) => p.isDefault)?.defaultRows,
        look: ofDefault.find((q) => q.includes('AS occupied')) ?? '',
        after: ofDefault.filter((q) => !q.includes('AS occupied')),
      };
    };
    try {
      // apply's read found DEFAULT empty: the next look is the EXISTS alone, and nothing else
      // is read about DEFAULT.
      const empty = await read();
      expect(empty.rows?.hasRows).toBe(false);
      expect(empty.look).not.toContain('WITH RECURSIVE');
      expect(empty.look).not.toContain(' AS p0');
      expect(empty.after).toEqual([]);
      // Rows arrive for the month the planner would create, and a year back.
      await t.sql.unsafe(`
        INSERT INTO look_events VALUES ('${month(2)}'::timestamptz + interval '1 day', 'new'),
          ('${month(-12)}'::timestamptz + interval '1 day', 'stray');`);
      const filled = await read();
      expect(filled.look).not.toContain('WITH RECURSIVE');
      // The search and the probes, in a read of their own, tell what a full look would have.
      expect(filled.after).toHaveLength(1);
      expect(filled.after[0]).toContain('WITH RECURSIVE');
      expect(filled.rows?.hasRows).toBe(true);
      expect(
        filled.rows?.probes.map((p) => [
          p.key.kind === 'range' && p.key.from.toISOString(),
          p.hasRows,
        ]),
      ).toEqual([[month(2), true]]);
      expect(filled.rows?.found.map((k) => keyLabel(k))).toEqual([
        `${month(-12).slice(0, 10)}..${month(-11).slice(0, 10)}`,
        `${month(2).slice(0, 10)}..${month(3).slice(0, 10)}`,
      ]);
      // Found holding rows: the look carries the search and the probes again, the same answer.
      const again = await read();
      expect(again.look).toContain('WITH RECURSIVE');
      expect(again.after).toEqual([]);
      expect(again.rows).toEqual(filled.rows);
    } finally {
      await client.end();
    }
  });

  it('the probes are index scans where an index leads with the key', async () => {
    const snapshot = await inspect(t.db, [events]);
    const keys = probeKeys(events, snapshot.families[0]?.tables ?? [], null, snapshot.takenAt);
    expect(keys).toHaveLength(1);
    const statements = defaultRowsSql(
      events,
      { schema: 'public', name: 'probe_events_default' },
      keys,
    );
    for (const text of [statements.probes, statements.skipScan]) {
      const plan = (await t.sql.unsafe(`EXPLAIN ${text}`)).map((r) => String(r['QUERY PLAN']));
      expect(plan.join('\n')).toMatch(/Index (Only )?Scan/);
      expect(plan.join('\n')).not.toMatch(/Seq Scan on probe_events_default/);
    }
  });

  it('status names the keys DEFAULT holds and its estimate; sizes only when asked', async () => {
    const plain = await inspect(t.db, [events]);
    expect(plain.families[0]?.tables[0]?.partitions.every((p) => p.bytes === null)).toBe(true);
    const sized = await inspect(t.db, [events], { sizes: true });
    expect(sized.families[0]?.tables[0]?.partitions.every((p) => (p.bytes ?? 0) > 0)).toBe(true);
    const report = status([events], sized);
    const table = report.families[0]?.tables[0];
    expect(table).toMatchObject({ defaultHasRows: true, defaultRows: null, defaultKeysAll: true });
    expect(table?.defaultKeys.map((k) => keyLabel(k))).toEqual([
      `${month(-12).slice(0, 10)}..${month(-11).slice(0, 10)}`,
    ]);
    expect(table?.bytes).toBeGreaterThan(0);
    expect(report.attention[0]).toMatch(
      new RegExp(
        `^probe_events_default holds rows \\(~20000 estimated\\) of ${month(-12).slice(0, 10)}\\.\\.`,
      ),
    );
    // A year back is outside the window the spec keeps: apply does not drain it, so the line
    // says how to, instead of pointing at a plan that has no such step (the key as the CLI
    // takes it: the day it starts).
    const label = keyLabel(table?.defaultKeys[0] as PartitionKey);
    expect(report.attention[0]).toContain(
      `: apply leaves ${label} there, the spec asking for no partition of it: pgparts drain probe_events ${label.slice(0, 10)}`,
    );
    // Nor does it call them misplaced: the spec asks no partition for them.
    expect(report.attention[0]).not.toContain('belong in their own partitions');
  });
});
