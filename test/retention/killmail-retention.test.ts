import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart, intervalSuffix } from '../../src/define/intervals.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { createPartitionSql } from '../../src/sql/partition-ddl.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const now = new Date();
const current = intervalStart('month', now);
const month = (offset: number) => addIntervals('month', current, offset);
const KILLMAIL_ORDER = ['killmail_id', 'killmail_time'];
const TABLES = ['killmails_raw', 'killmails_enriched', 'killmail_participants'] as const;

/** 50 killmails in month `offset`, each with enrichment and 3 participants. */
async function loadMonth(offset: number): Promise<void> {
  const from = month(offset);
  const base = 1_000_000 + (offset + 20) * 1000;
  await t.sql`
    INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
    SELECT ${base} + i, ${from.toISOString()}::timestamptz + i * interval '7 hours', 30000142, 587, '{}'::jsonb
    FROM generate_series(1, 50) i`;
  await t.sql`
    INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
    SELECT killmail_id, killmail_time, 1000, ARRAY['x'], '{}'::jsonb FROM killmails_raw
    WHERE killmail_id > ${base} AND killmail_id <= ${base + 50}`;
  await t.sql`
    INSERT INTO killmail_participants (killmail_id, killmail_time, position, is_victim, character_id)
    SELECT killmail_id, killmail_time, p, p = 0, CASE WHEN p = 2 THEN NULL ELSE 9000 + p END
    FROM killmails_raw, generate_series(0, 2) p WHERE killmail_id > ${base} AND killmail_id <= ${base + 50}`;
}

async function months(table: string, schema = 'public'): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(${`${schema}.${table}`}) ORDER BY 1`;
  return rows.map((r) => r.name);
}

const suffix = (offset: number) => intervalSuffix('month', month(offset));

beforeAll(async () => {
  // The migration made months -12..+3; add -13 so the data spans 14 months (-13..0).
  for (const table of killmailFamily.tables) {
    for (const s of createPartitionSql(killmailFamily, table, {
      kind: 'range',
      from: month(-13),
      to: month(-12),
    })) {
      await t.sql.unsafe(s);
    }
  }
  for (let offset = -13; offset <= 0; offset++) await loadMonth(offset);
});

describe('killmail retention', () => {
  it('keeps the 12 months before the current one, the current one and the premade ones', async () => {
    const kept = await Promise.all(
      TABLES.map((table) =>
        tableDigest(t.sql, table, KILLMAIL_ORDER, `killmail_time >= '${month(-12).toISOString()}'`),
      ),
    );
    const result = await apply(t.db, { families: [killmailFamily], allowDestructive: true });
    expect(result.ok).toBe(true);
    const retired = result.results.filter((r) => r.step.kind === 'retire');
    expect(retired.map((r) => [r.outcome, r.step.label])).toEqual([
      [
        'done',
        `${month(-13).toISOString().slice(0, 10)}..${month(-12).toISOString().slice(0, 10)}`,
      ],
    ]);
    expect(retired[0]?.step.reason).toContain('CONCURRENTLY');
    for (const table of TABLES) {
      const names = await months(table);
      expect(names).toHaveLength(16);
      expect(names[0]).toBe(`${table}_${suffix(-12)}`);
      expect(names.at(-1)).toBe(`${table}_${suffix(3)}`);
    }
    // Exactly the rows of the retired month are gone, in all three tables; the rest is intact.
    const after = await Promise.all(
      TABLES.map((table) => tableDigest(t.sql, table, KILLMAIL_ORDER)),
    );
    expect(after).toEqual(kept);
    expect(after.map((d) => d.rows)).toEqual([13 * 50, 13 * 50, 13 * 150]);
  });

  it('leaves the foreign keys in place: orphans are still rejected', async () => {
    const orphan = t.sql`INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
                         VALUES (1, ${month(-1).toISOString()}, 1, '{}', '{}')`;
    await expect(orphan).rejects.toMatchObject({ code: '23503' });
    const fks =
      await t.sql`SELECT conname FROM pg_constraint WHERE contype = 'f' AND conparentid = 0
                            AND conname IN ('killmails_enriched_raw_fkey', 'killmail_participants_raw_fkey')`;
    expect(fks).toHaveLength(2);
  });

  it('archives a month into the archive schema, readable, and reattaches it with every row', async () => {
    const key = { kind: 'range', from: month(-12), to: month(-11) } as const;
    const before = await Promise.all(
      TABLES.map((table) => tableDigest(t.sql, `${table}_${suffix(-12)}`, KILLMAIL_ORDER)),
    );
    const result = await retireKey(t.db, killmailFamily, key, { mode: 'archive' });
    expect(result).toMatchObject({ status: 'retired', mode: 'archive', detach: 'concurrently' });
    for (const table of TABLES)
      expect(await months(table)).not.toContain(`${table}_${suffix(-12)}`);
    for (const [i, table] of TABLES.entries()) {
      const [row] = await t.sql.unsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM pgparts_archive."${table}_${suffix(-12)}"`,
      );
      expect(row?.n).toBe(before[i]?.rows);
    }
    // The archived referencing tables still point at the archived raw table.
    const orphan = t.sql.unsafe(`INSERT INTO pgparts_archive."killmails_enriched_${suffix(-12)}"
      (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob) VALUES (1, '${month(-12).toISOString()}', 1, '{}', '{}')`);
    await expect(orphan).rejects.toMatchObject({ code: '23503' });
    // Maintenance does not re-create the retired month.
    const again = await apply(t.db, { families: [killmailFamily], allowDestructive: true });
    expect(again.plan?.steps.filter((s) => s.kind === 'create')).toEqual([]);

    const back = await reattachKey(t.db, killmailFamily, key);
    expect(back.partitions.map((p) => p.rows)).toEqual(before.map((d) => d.rows));
    for (const [i, table] of TABLES.entries()) {
      expect(await months(table)).toContain(`${table}_${suffix(-12)}`);
      expect(await tableDigest(t.sql, `${table}_${suffix(-12)}`, KILLMAIL_ORDER)).toEqual(
        before[i],
      );
    }
  });

  it("keeps a partition whose COMMENT a user overwrote: ownership is pgparts's own record", async () => {
    await t.sql.unsafe(`COMMENT ON TABLE "killmails_raw_${suffix(-12)}" IS 'made by hand'`);
    const snapshot = await inspect(t.db, [killmailFamily]);
    const raw = snapshot.families[0]?.tables[0]?.partitions.find(
      (p) => p.name === `killmails_raw_${suffix(-12)}`,
    );
    expect(raw).toMatchObject({ managed: true, comment: 'made by hand' });
    const planOnly = await apply(t.db, {
      families: [killmailFamily],
      allowDestructive: false,
      now: addIntervals('month', now, 1),
    });
    const retire = planOnly.plan?.steps.find((s) => s.kind === 'retire');
    expect(retire?.partitions).toContain(`killmails_raw_${suffix(-12)}`);
    expect(planOnly.results.find((r) => r.step.kind === 'retire')?.outcome).toBe('skipped');
  });

  it('does not own a hand-made partition that copied the marker comment', async () => {
    const key = { kind: 'range', from: month(-14), to: month(-13) } as const;
    for (const table of killmailFamily.tables) {
      for (const s of createPartitionSql(killmailFamily, table, key)) await t.sql.unsafe(s);
    }
    const snapshot = await inspect(t.db, [killmailFamily]);
    for (const table of snapshot.families[0]?.tables ?? []) {
      const made = table.partitions.find((p) => p.name === `${table.name}_${suffix(-14)}`);
      expect(made).toMatchObject({ managed: false, comment: 'pgparts:managed' });
    }
    const planOnly = await apply(t.db, {
      families: [killmailFamily],
      allowDestructive: false,
      now: addIntervals('month', now, 1),
    });
    const notice = planOnly.plan?.notices.find(
      (n) => n.kind === 'retention-skipped' && n.message.includes(suffix(-14)),
    );
    expect(notice?.message).toContain('not created by pgparts');
    expect(planOnly.plan?.steps.filter((s) => s.kind === 'retire').map((s) => s.label)).toEqual([
      `${month(-12).toISOString().slice(0, 10)}..${month(-11).toISOString().slice(0, 10)}`,
    ]);
    expectPgpartsError(await rejection(retireKey(t.db, killmailFamily, key)), 'refused', {
      message: /not created by pgparts/,
    });
    expect(await months('killmails_raw')).toContain(`killmails_raw_${suffix(-14)}`);
  });
});
