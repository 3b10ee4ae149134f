import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { resolveKey } from '../../src/cli/key-argument.js';
import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';
import { parseFamily } from '../../src/define/spec.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { retireKey, unretireKey } from '../../src/ops/retention.js';
import { plan } from '../../src/plan/plan.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const family = killmailFamily;
const ORDER = ['killmail_id', 'killmail_time'];
const TABLES = ['killmails_raw', 'killmails_enriched', 'killmail_participants'] as const;
const current = intervalStart('month', new Date());
const month = (offset: number) => addIntervals('month', current, offset);
const key = (offset: number) =>
  ({ kind: 'range', from: month(offset), to: month(offset + 1) }) as const;
const suffix = (offset: number) => intervalSuffix('month', month(offset));

async function loadMonth(offset: number): Promise<void> {
  const base = 5_000_000 + (offset + 20) * 1000;
  await t.sql`
    INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
    SELECT ${base} + i, ${month(offset).toISOString()}::timestamptz + i * interval '5 hours', 30000142, 587, '{}'::jsonb
    FROM generate_series(1, 40) i`;
  await t.sql`
    INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
    SELECT killmail_id, killmail_time, 1000, ARRAY['x'], '{}'::jsonb FROM killmails_raw
    WHERE killmail_id > ${base} AND killmail_id <= ${base + 40}`;
  await t.sql`
    INSERT INTO killmail_participants (killmail_id, killmail_time, position, is_victim, character_id)
    SELECT killmail_id, killmail_time, p, p = 0, 9000 + p
    FROM killmails_raw, generate_series(0, 2) p WHERE killmail_id > ${base} AND killmail_id <= ${base + 40}`;
}

/** Count and checksum of each table's rows in month `offset`, and whether its partition is attached. */
async function monthState(offset: number) {
  const where = `killmail_time >= '${month(offset).toISOString()}' AND killmail_time < '${month(offset + 1).toISOString()}'`;
  return Promise.all(
    TABLES.map(async (table) => {
      const [attached] = await t.sql<{ ok: boolean }[]>`
        SELECT EXISTS (SELECT 1 FROM pg_inherits WHERE inhparent = ${table}::regclass
                         AND inhrelid = to_regclass(${`${table}_${suffix(offset)}`})) AS ok`;
      return { table, attached: attached?.ok, ...(await tableDigest(t.sql, table, ORDER, where)) };
    }),
  );
}

beforeAll(async () => {
  for (const offset of [-3, -2, -1, 0]) await loadMonth(offset);
});

describe('retire refuses before its first change', () => {
  it('a view on one partition (killmails_enriched of a month): refused, all three tables intact', async () => {
    await t.sql.unsafe(
      `CREATE VIEW enriched_month AS SELECT * FROM "killmails_enriched_${suffix(-2)}"`,
    );
    const before = await monthState(-2);
    expect(before.map((s) => s.rows)).toEqual([40, 40, 120]);
    const refusal = await retireKey(t.db, family, key(-2)).catch((e: unknown) => e);
    expect(refusal).toMatchObject({ name: 'PgpartsError', code: 'refused' });
    expect((refusal as Error).message).toMatch(/enriched_month depends on/);
    expect(await monthState(-2)).toEqual(before);
    expect(before.every((s) => s.attached)).toBe(true);
    // Without the view it goes through.
    await t.sql.unsafe('DROP VIEW enriched_month');
    expect(await retireKey(t.db, family, key(-2))).toMatchObject({ status: 'retired' });
  });

  it('a foreign key from outside, a partition pgparts did not make, an archive collision: every problem in one refusal, nothing changed', async () => {
    // Month -3 of killmails_raw: referenced from a table outside the family.
    await t.sql.unsafe(`CREATE TABLE outside_ref (killmail_id bigint, killmail_time timestamptz,
      FOREIGN KEY (killmail_id, killmail_time) REFERENCES "killmails_raw_${suffix(-3)}")`);
    // killmail_participants of month -3: replaced by a hand-made table under pgparts's name.
    const participants = `killmail_participants_${suffix(-3)}`;
    await t.sql.unsafe(`ALTER TABLE killmail_participants DETACH PARTITION "${participants}"`);
    await t.sql.unsafe(`ALTER TABLE "${participants}" RENAME TO participants_kept`);
    await t.sql.unsafe(
      `CREATE TABLE "${participants}" (LIKE killmail_participants INCLUDING ALL);
       ALTER TABLE killmail_participants ATTACH PARTITION "${participants}"
         FOR VALUES FROM ('${month(-3).toISOString()}') TO ('${month(-2).toISOString()}');
       INSERT INTO "${participants}" SELECT * FROM participants_kept;`,
    );
    // An archive of killmails_enriched of month -3 already exists.
    await t.sql.unsafe(
      `CREATE SCHEMA IF NOT EXISTS archive_taken;
       CREATE TABLE archive_taken."killmails_enriched_${suffix(-3)}" (id int)`,
    );
    const before = await monthState(-3);
    try {
      const refusal = await retireKey(t.db, family, key(-3), {
        mode: 'archive',
        archiveSchema: 'archive_taken',
      }).catch((e: unknown) => e);
      expect(refusal).toMatchObject({ name: 'PgpartsError', code: 'refused' });
      const message = (refusal as Error).message;
      expect(message).toMatch(new RegExp(`public\\.${participants} was not created by pgparts`));
      expect(message).toMatch(/outside_ref \(\w+\).* outside the family references? killmails_raw/);
      expect(message).toMatch(
        new RegExp(
          `archive_taken\\.killmails_enriched_${suffix(-3)} already exists: archive would collide .*give this family an archive schema of its own, retention\\.archiveSchema`,
        ),
      );
      expect(await monthState(-3)).toEqual(before);
      expect(before.every((s) => s.attached)).toBe(true);
    } finally {
      // Put back as it was: the original partition (still recorded as pgparts's, by oid) attached.
      await t.sql.unsafe(
        `DROP TABLE outside_ref; DROP TABLE archive_taken."killmails_enriched_${suffix(-3)}";
         ALTER TABLE killmail_participants DETACH PARTITION "${participants}";
         DROP TABLE "${participants}";
         ALTER TABLE participants_kept RENAME TO "${participants}";
         ALTER TABLE killmail_participants ATTACH PARTITION "${participants}"
           FOR VALUES FROM ('${month(-3).toISOString()}') TO ('${month(-2).toISOString()}');`,
      );
    }
    expect(await monthState(-3)).toEqual(before);
  });

  it("a foreign key from outside to a family's parent is named once, not with PostgreSQL's per-partition copies of it", async () => {
    await t.sql.unsafe(`CREATE TABLE outside_parent_ref (killmail_id bigint, killmail_time timestamptz,
      CONSTRAINT outside_parent_ref_fk FOREIGN KEY (killmail_id, killmail_time) REFERENCES killmails_raw)`);
    try {
      const refusal = await retireKey(t.db, family, key(-3), { mode: 'drop' }).catch(
        (e: unknown) => e,
      );
      expect(refusal).toMatchObject({ name: 'PgpartsError', code: 'refused' });
      const message = (refusal as Error).message;
      expect(message).toMatch(/outside_parent_ref \(outside_parent_ref_fk\)/);
      expect(message).not.toMatch(/outside_parent_ref_fk_\d/);
    } finally {
      await t.sql.unsafe('DROP TABLE outside_parent_ref');
    }
  });

  it('the current and a premade month: refused unless forced', async () => {
    for (const offset of [0, 2]) {
      const before = await monthState(offset);
      await expect(retireKey(t.db, family, key(offset))).rejects.toMatchObject({
        code: 'refused',
      });
      expect(await monthState(offset)).toEqual(before);
    }
  });

  it('a weekly key as its partition names it (ISO weeks): 2026-w45, 2026-W01; no week 53 in 2025', () => {
    const weekly = parseFamily({
      name: 'weekly_metrics',
      tables: ['weekly_metrics'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'week' },
    });
    expect(resolveKey([weekly], 'weekly_metrics', '2026-w45').key).toEqual({
      kind: 'range',
      from: new Date('2026-11-02T00:00:00Z'),
      to: new Date('2026-11-09T00:00:00Z'),
    });
    // ISO week 1 of 2026 starts on Monday 2025-12-29.
    expect(resolveKey([weekly], 'weekly_metrics', '2026-W01').key).toMatchObject({
      from: new Date('2025-12-29T00:00:00Z'),
    });
    expect(resolveKey([weekly], 'weekly_metrics', '2026-w45').key).toEqual(
      resolveKey([weekly], 'weekly_metrics', '2026-11-04').key,
    );
    expect(() => resolveKey([weekly], 'weekly_metrics', '2025-w53')).toThrow(
      /"2025-w53" is no ISO week of 2025/,
    );
    expect(() => resolveKey([weekly], 'weekly_metrics', '2026-w00')).toThrow(/no ISO week/);
    // Only a weekly family reads it so.
    expect(() => resolveKey([family], 'killmails_raw', '2026-w45')).toThrow(/YYYY-MM-DD with/);
  });

  it('a month or a year given for a finer interval is refused, not read as the interval of its first day', () => {
    const daily = parseFamily({
      name: 'daily_log',
      tables: ['daily_log'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'day' },
    });
    const weekly = parseFamily({
      name: 'weekly_log',
      tables: ['weekly_log'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'week' },
    });
    // 2026-11 on a weekly family read as the week of 2026-11-01: the one from 2026-10-26.
    expect(() => resolveKey([weekly], 'weekly_log', '2026-11')).toThrow(
      /weekly_log is partitioned by week; "2026-11" spans more than one week: give a day in the one you mean \(YYYY-MM-DD, or the week as YYYY-wNN\)/,
    );
    expect(() => resolveKey([daily], 'daily_log', '2026')).toThrow(/spans more than one day/);
    expect(() => resolveKey([family], 'killmails_raw', '2026')).toThrow(
      /spans more than one month: give a day in the one you mean \(YYYY-MM-DD, or YYYY-MM\)/,
    );
    expect(resolveKey([daily], 'daily_log', '2026-11-05').key).toMatchObject({
      from: new Date('2026-11-05T00:00:00Z'),
    });
  });

  it('RANGE keys with a year the date parser would reinterpret are refused', async () => {
    expect(() => resolveKey([family], 'killmails_raw', '0026-11')).toThrow(/1900\.\.9999/);
    expect(() => resolveKey([family], 'killmails_raw', '0099-01')).toThrow(/1900\.\.9999/);
    expect(resolveKey([family], 'killmails_raw', '2026-11').key).toMatchObject({
      from: new Date('2026-11-01T00:00:00Z'),
    });
    const year99 = {
      kind: 'range',
      from: new Date('1999-01-01T00:00:00Z'),
      to: new Date('1999-02-01T00:00:00Z'),
    } as const;
    year99.from.setUTCFullYear(99);
    const to = new Date(year99.from);
    to.setUTCMonth(1);
    await expect(drainKey(t.db, family, { ...year99, to })).rejects.toMatchObject({
      code: 'invalid-input',
    });
    const names =
      await t.sql`SELECT relname FROM pg_class WHERE relname LIKE 'killmails_raw_00%' OR relname LIKE 'killmails_raw_1999%'`;
    expect(names).toHaveLength(0);
  });
});

describe('status --check sees the current month without a partition', () => {
  it('after a forced retire of the current month; unretire brings it back', async () => {
    const before = await monthState(0);
    const forced = await retireKey(t.db, family, key(0), { force: true });
    expect(forced).toMatchObject({ status: 'retired' });
    const snapshot = await inspect(t.db, [family]);
    const report = status([family], snapshot);
    expect(report.attention.join('\n')).toMatch(
      /killmails_raw has no partition for the current month .*recorded as retired/,
    );
    // The planner does not bring a retired key back by itself...
    expect(
      plan([family], snapshot, snapshot.takenAt).steps.filter((s) => s.kind === 'create'),
    ).toEqual([]);
    // ...until it is unretired.
    expect(await unretireKey(t.db, family, key(0))).toBe(true);
    const result = await apply(t.db, { families: [family] });
    expect(result.results.filter((r) => r.step.kind === 'create').map((r) => r.outcome)).toEqual([
      'done',
      'done',
      'done',
    ]);
    const after = status([family], await inspect(t.db, [family]));
    expect(after.attention.filter((a) => /current month/.test(a))).toEqual([]);
    expect((await monthState(0)).map((s) => s.attached)).toEqual([true, true, true]);
    expect(before.map((s) => s.rows)).toEqual([40, 40, 120]);
  });
});

describe('an interrupted retire', () => {
  it('is reported, blocks nothing else, and the next apply --yes finishes it in its mode', async () => {
    const crash = new Error('simulated crash after the first partition');
    const kept = await Promise.all(
      TABLES.map((table) =>
        tableDigest(t.sql, table, ORDER, `killmail_time >= '${month(-2).toISOString()}'`),
      ),
    );
    await expect(
      retireKey(t.db, family, key(-3), {
        onProgress: (done) => {
          if (done === 1) throw crash;
        },
      }),
    ).rejects.toBe(crash);
    expect((await monthState(-3)).map((s) => s.attached)).toEqual([true, true, false]);
    const snapshot = await inspect(t.db, [family]);
    expect(status([family], snapshot).attention.join('\n')).toMatch(
      /interrupted retire of .* \(phase drop killmail_participants_/,
    );
    // Without --yes the half-retired month is left alone: nothing is created for it.
    const planned = await apply(t.db, { families: [family] });
    expect(planned.ok).toBe(true);
    const steps = planned.results.filter((r) =>
      r.step.label.startsWith(month(-3).toISOString().slice(0, 10)),
    );
    expect(steps.map((r) => [r.step.kind, r.outcome])).toEqual([['retire', 'skipped']]);
    const finished = await apply(t.db, { families: [family], allowDestructive: true });
    expect(finished.ok).toBe(true);
    expect((await monthState(-3)).map((s) => s.attached)).toEqual([false, false, false]);
    const [retired] = await t.sql<{ mode: string }[]>`
      SELECT mode FROM pgparts_retired_keys WHERE key = ${`${month(-3).toISOString().slice(0, 10)}..${month(-2).toISOString().slice(0, 10)}`}`;
    expect(retired?.mode).toBe('drop');
    expect(await t.sql`SELECT * FROM pgparts_operations`).toHaveLength(0);
    const after = await Promise.all(
      TABLES.map((table) =>
        tableDigest(t.sql, table, ORDER, `killmail_time >= '${month(-2).toISOString()}'`),
      ),
    );
    expect(after).toEqual(kept);
  });
});
