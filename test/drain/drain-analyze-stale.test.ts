import type postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { staleStatistics } from '../../src/catalog/stale-statistics.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { month2026 as month } from '../support/month-key.js';
import { recordingDatabase } from '../support/recording.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/**
 * Runs `statements` on a session of its own and ends it: a server process reports its counts of
 * rows changed when it exits. PostgreSQL 15+ reports an idle session's only after 10 s, and 14
 * none at all until its next statement half a second or more after the last report.
 */
async function write(statements: string) {
  const writer = t.connect({ max: 1 });
  try {
    await writer.unsafe(statements);
  } finally {
    await writer.end();
  }
}

/**
 * The server's count of rows changed since `table`'s last ANALYZE, once it says `expected`
 * (backends report their counts within about a second; read until they are in).
 */
async function modifiedSinceAnalyze(sql: postgres.Sql, table: string, expected: number) {
  for (let i = 0; i < 200; i++) {
    const [row] = await sql<{ n: number }[]>`
      SELECT pg_stat_clear_snapshot(), (SELECT n_mod_since_analyze::int FROM pg_stat_all_tables
      WHERE relid = ${table}::regclass) AS n`;
    if (row?.n === expected) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${table}: the server never counted ${expected} rows changed since ANALYZE`);
}

describe('which tables have stale statistics', () => {
  it("follows autovacuum's rule: 50 + 10% of the rows changed since the last ANALYZE, or never analyzed", async () => {
    await write(`
      CREATE TABLE st_rows (id int) WITH (autovacuum_enabled = false);
      CREATE TABLE st_never (id int) WITH (autovacuum_enabled = false);
      INSERT INTO st_rows SELECT generate_series(1, 1000);`);
    await write('ANALYZE st_rows');
    const tables = ['st_rows', 'st_never'].map((table) => ({ schema: 'public', table }));
    await modifiedSinceAnalyze(t.sql, 'st_rows', 0);
    expect(await staleStatistics(t.db, tables)).toEqual([tables[1]]);
    // 150 changed of 1000: at the threshold, not past it.
    await write('INSERT INTO st_rows SELECT generate_series(1, 150)');
    await modifiedSinceAnalyze(t.sql, 'st_rows', 150);
    expect(await staleStatistics(t.db, tables)).toEqual([tables[1]]);
    await write('DELETE FROM st_rows WHERE id = 1');
    await modifiedSinceAnalyze(t.sql, 'st_rows', 152);
    expect(await staleStatistics(t.db, tables)).toEqual(tables);
  });
});

const events = parseFamily({
  name: 'sa_events',
  tables: ['sa_events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1 },
  defaultPartition: true,
});

/** A month of hourly rows into DEFAULT. */
const fill = (m: number) =>
  write(`
    INSERT INTO sa_events SELECT ${m} * 10000 + i, timestamptz '2026-${String(m).padStart(2, '0')}-01 00:00:00+00' + i * interval '1 hour', 'e' || i
      FROM generate_series(0, 24 * 28 - 1) i`);

describe("a drain's ANALYZE of DEFAULT before its replay", () => {
  it('runs where DEFAULT changed past the threshold since its last ANALYZE, not where it did not; no row lost either way', async () => {
    await t.sql.unsafe(`
      CREATE TABLE sa_events (id bigint NOT NULL, at timestamptz NOT NULL, body text, PRIMARY KEY (id, at))
        PARTITION BY RANGE (at)`);
    expect((await apply(t.db, { families: [events] })).failed).toBe(0);
    await t.sql.unsafe('ALTER TABLE sa_events_default SET (autovacuum_enabled = false)');
    const analyzed = (statements: string[]) =>
      statements.filter((s) => s === 'ANALYZE "public"."sa_events_default"').length;

    // February and March in DEFAULT, analyzed: draining February changes nothing DEFAULT's
    // statistics follow (the drain reads it), so no ANALYZE.
    await fill(2);
    await fill(3);
    await write('ANALYZE sa_events_default');
    await modifiedSinceAnalyze(t.sql, 'sa_events_default', 0);
    let before = await tableDigest(t.sql, 'sa_events', ['id', 'at']);
    const fresh = recordingDatabase(t);
    const first = await drainKey(fresh.db, events, month(2), { strategy: 'swap' });
    await fresh.close();
    expect(first).toMatchObject({ status: 'drained', rowsMoved: 24 * 28 });
    expect(analyzed(fresh.statements)).toBe(0);
    expect(await tableDigest(t.sql, 'sa_events', ['id', 'at'])).toEqual(before);

    // The swap's new DEFAULT holds March's rows, copied in (672 rows changed, never analyzed);
    // April and May written into it make 2016.
    await t.sql.unsafe('ALTER TABLE sa_events_default SET (autovacuum_enabled = false)');
    await fill(4);
    await fill(5);
    await modifiedSinceAnalyze(t.sql, 'sa_events_default', 24 * 28 * 3);
    before = await tableDigest(t.sql, 'sa_events', ['id', 'at']);
    const stale = recordingDatabase(t);
    const second = await drainKey(stale.db, events, month(4), { strategy: 'swap' });
    await stale.close();
    expect(second).toMatchObject({ status: 'drained', rowsMoved: 24 * 28 });
    expect(analyzed(stale.statements)).toBe(1);
    expect(await tableDigest(t.sql, 'sa_events', ['id', 'at'])).toEqual(before);
  });
});
