import { bigint, date, pgTable, primaryKey, timestamp } from 'drizzle-orm/pg-core';
import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { convertFill } from '../../src/ops/convert/fill.js';
import { convertPrep } from '../../src/ops/convert/prep.js';
import { conversionTarget } from '../../src/ops/convert/target.js';
import { convertVerify } from '../../src/ops/convert/verify.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A monthly family converted by a session whose TimeZone is not UTC (the server's default zone,
 * or the app's connection setting). Prep cut the legacy rows into intervals with
 * `date_trunc(unit, v AT TIME ZONE 'UTC')`, which for a `timestamp` or `date` column truncates in
 * the session's zone: in New York the row of 2024-05-01 02:00 made an April partition, and the
 * fill then failed ("no partition of relation found for row") or, with DEFAULT, put the row
 * there. Intervals are now cut on the UTC grid whatever the session says: a zone-less value by
 * its own wall time, a timestamptz by its UTC time, as the planner and DEFAULT's probes cut them.
 */
const columns = {
  timestamp: { make: (n: string) => timestamp(n, { mode: 'string' }), sql: 'timestamp' },
  date: { make: (n: string) => date(n, { mode: 'string' }), sql: 'date' },
  timestamptz: {
    make: (n: string) => timestamp(n, { mode: 'string', withTimezone: true }),
    sql: 'timestamptz',
  },
} as const;

/** Values at the edges of April, May and July, and the month (UTC grid) each belongs in. */
const rows: Record<keyof typeof columns, [string, string][]> = {
  timestamp: [
    ['2024-04-30 23:30:00', '2024_04'],
    ['2024-05-01 02:00:00', '2024_05'],
    ['2024-07-31 23:00:00', '2024_07'],
  ],
  date: [
    ['2024-04-30', '2024_04'],
    ['2024-05-01', '2024_05'],
    ['2024-07-31', '2024_07'],
  ],
  // 00:30 UTC on May 1 is April 30 in New York; 22:00 UTC on April 30 is May 1 in Sydney.
  timestamptz: [
    ['2024-04-30 22:00:00+00', '2024_04'],
    ['2024-05-01 00:30:00+00', '2024_05'],
    ['2024-07-31 23:00:00+00', '2024_07'],
  ],
};

describe('converting a RANGE family from a session whose TimeZone is not UTC', () => {
  for (const zone of ['America/New_York', 'Australia/Sydney']) {
    it(`cuts ${Object.keys(columns).join(', ')} columns on the UTC grid in ${zone}`, async () => {
      const client = t.connect({ max: 1, connection: { TimeZone: zone } });
      const db = drizzle(client);
      try {
        for (const [type, column] of Object.entries(columns) as [
          keyof typeof columns,
          (typeof columns)[keyof typeof columns],
        ][]) {
          const name = `ev_${type}_${zone.split('/')[1]?.toLowerCase()}`;
          await client.unsafe(
            `CREATE TABLE ${name} (id bigint PRIMARY KEY, at ${column.sql} NOT NULL);
             INSERT INTO ${name} VALUES ${rows[type].map(([at], i) => `(${i + 1}, '${at}')`).join(', ')};`,
          );
          const table = pgTable(
            name,
            { id: bigint('id', { mode: 'number' }).notNull(), at: column.make('at').notNull() },
            (x) => [primaryKey({ columns: [x.id, x.at] })],
          );
          const family = parseFamily({
            name,
            tables: [name],
            partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 0 },
            defaultPartition: true,
          });
          const target = conversionTarget({ family, tables: [table] });
          const before = await tableDigest(t.sql, name, ['id']);
          await convertPrep(db, target);
          await convertFill(db, target);
          const twin = `pgparts_${name}_new.${name}`;
          // Every row in its own month's partition: none in DEFAULT, no empty month made.
          const placed = await t.sql.unsafe<{ id: string; part: string }[]>(
            `SELECT id::text, tableoid::regclass::text AS part FROM ${twin} ORDER BY id`,
          );
          expect(placed.map((r) => r.part.replace(/^.*\./, ''))).toEqual(
            rows[type].map(([, month]) => `${name}_${month}`),
          );
          const made = await t.sql.unsafe<{ name: string }[]>(
            `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = '${twin}'::regclass AND c.relname ~ '_2024_' ORDER BY 1`,
          );
          expect(made.map((r) => r.name)).toEqual(
            [...new Set(rows[type].map(([, month]) => `${name}_${month}`))].sort(),
          );
          expect(await tableDigest(t.sql, twin, ['id'])).toEqual(before);
          // verify groups by the same months, and finds both sides equal.
          const report = await convertVerify(db, target);
          expect(report.ok).toBe(true);
          expect(report.tables[0]?.groups).toBe(3);
        }
      } finally {
        await client.end();
      }
    });
  }
});
