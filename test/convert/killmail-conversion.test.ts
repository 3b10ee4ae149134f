import { beforeAll, describe, expect, it } from 'vitest';
import { builtInTarget } from '../../src/domains/presets.js';
import {
  convertBackfill,
  convertCleanup,
  convertFill,
  convertPrep,
  convertSwap,
  convertVerify,
  formatVerifyReport,
  type VerifyReport,
} from '../../src/ops/convert/index.js';
import { buildLegacyKillmails } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';
import { countAndChecksum } from './checksums.js';

const t = useTestDatabase({ migrated: false });
const target = builtInTarget('killmails');
const KILLMAILS = 1_200;
const RAW = [
  'killmail_id',
  'killmail_time',
  'system_id',
  'ship_type_id',
  'raw_payload',
  'inserted_at',
];

let prep: Awaited<ReturnType<typeof convertPrep>>;
let report: VerifyReport;
let rawBefore: { rows: number; checksum: string };
const written: number[] = [];
const writerErrors: unknown[] = [];

beforeAll(async () => {
  await buildLegacyKillmails(t.sql, { killmails: KILLMAILS, months: 4 });
  rawBefore = await countAndChecksum(t.sql, 'killmails_raw', RAW);
  prep = await convertPrep(t.db, target);
  // Two feeds keep writing killmails (raw, enriched, participants) through the whole conversion.
  let stopping = false;
  const feeds = [0, 1].map(async (w) => {
    const sql = t.connect({ max: 1 });
    for (let i = 0; !stopping; i++) {
      const id = 900_000_000 + w * 100_000 + i;
      try {
        await sql.begin(async (tx) => {
          await tx`INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
                   VALUES (${id}, now(), 30000142, 587, ${tx.json({ id })})`;
          await tx`INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
                   VALUES (${id}, (SELECT killmail_time FROM killmails_raw WHERE killmail_id = ${id}), ${i % 2 ? 2e9 : 1e6}, ${['t2']}, ${tx.json({})})`;
          await tx`INSERT INTO killmail_participants (killmail_id, killmail_time, position, is_victim)
                   SELECT ${id}, killmail_time, 0, true FROM killmails_raw WHERE killmail_id = ${id}`;
        });
        written.push(id);
      } catch (error) {
        writerErrors.push(error);
        if (writerErrors.length > 10) break;
      }
    }
    await sql.end({ timeout: 5 });
  });
  await convertBackfill(t.db, target, { batchSize: 300 });
  await convertFill(t.db, target, { batchSize: 300, throttleMs: 5 });
  await convertSwap(t.db, target);
  const after = written.length + 20;
  while (written.length < after && writerErrors.length === 0)
    await new Promise((r) => setTimeout(r, 20));
  stopping = true;
  await Promise.all(feeds);
  report = await convertVerify(t.db, target);
}, 240_000);

describe('the killmail feed converts through the same engine', () => {
  it('made a monthly partition for every month in the data and the premade ones', () => {
    const months = prep.partitionsCreated.filter((n) => n.startsWith('killmails_raw_'));
    expect(months.length).toBeGreaterThanOrEqual(5 + 3 - 1);
    expect(prep.needsBackfill).toEqual(['killmails_enriched', 'killmail_participants']);
  });

  it('kept every killmail, old and new, exactly once, each in the partition of its UTC month', async () => {
    expect(writerErrors.map(String)).toEqual([]);
    const [counts] =
      await t.sql`SELECT count(*)::int AS n, count(DISTINCT killmail_id)::int AS d FROM killmails_raw`;
    expect(counts).toEqual({ n: KILLMAILS + written.length, d: KILLMAILS + written.length });
    expect(await countAndChecksum(t.sql, 'killmails_raw', RAW, 'killmail_id < 900000000')).toEqual(
      rawBefore,
    );
    const misplaced = await t.sql`SELECT killmail_id FROM killmails_raw
      WHERE tableoid::regclass::text <> 'killmails_raw_' || to_char(killmail_time AT TIME ZONE 'UTC', 'YYYY_MM')`;
    expect(misplaced).toHaveLength(0);
    const [enriched] = await t.sql`SELECT count(*)::int AS n FROM killmails_enriched e
      JOIN killmails_raw r ON r.killmail_id = e.killmail_id AND r.killmail_time = e.killmail_time`;
    const [all] = await t.sql`SELECT count(*)::int AS n FROM killmails_enriched`;
    expect(enriched?.n).toBe(all?.n);
  });

  it('verify compares per month and passes', () => {
    expect(report.ok, formatVerifyReport(report)).toBe(true);
    expect(report.tables.map((x) => x.table)).toEqual([
      'killmails_raw',
      'killmails_enriched',
      'killmail_participants',
    ]);
    expect(report.tables[0]?.groups).toBeGreaterThanOrEqual(5);
  });

  it('the ordinary view reads the partitioned tables, including kills after the swap', async () => {
    const [view] =
      await t.sql`SELECT count(*)::int AS n FROM big_kills WHERE killmail_id >= 900000000`;
    const [direct] = await t.sql`SELECT count(*)::int AS n FROM killmails_enriched
      WHERE killmail_id >= 900000000 AND isk_value > 500000000`;
    expect(view?.n).toBe(direct?.n);
    expect(direct?.n).toBeGreaterThan(0);
    const [kind] =
      await t.sql`SELECT relkind FROM pg_class WHERE oid = 'public.killmails_raw'::regclass`;
    expect(kind?.relkind).toBe('p');
  });

  it('cleans up after the passing verify', async () => {
    await convertCleanup(t.db, target);
    const left =
      await t.sql`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pgparts_killmails%'`;
    expect(left).toHaveLength(0);
  });
});
