import { sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { latestKillmails } from '../../src/domains/killmails/index.js';
import { builtInFamilies, killmailFamily, leaderboardFamily } from '../../src/domains/presets.js';
import {
  drainKey,
  inspect,
  maintain,
  parseFamily,
  plan,
  prometheusMetrics,
  retireKey,
  status,
} from '../../src/index.js';
import { rowsOf } from '../../src/run/rows.js';
import { expectPgpartsError, rejection, thrown } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * What an app gets wrong when it calls pgparts, each refused before anything runs with a
 * PgpartsError that names it and says what to pass instead (a TypeError from deep inside, or a
 * server error after a first change, before).
 */
const t = useTestDatabase();
const pool = new pg.Pool({ max: 1 });
afterAll(() => pool.end());

const notDrizzle =
  /the database must be a Drizzle PostgreSQL database \(postgres\.js, node-postgres or PGlite\); /;

describe('a database that is not a Drizzle database', () => {
  it("the driver's own client is named, with the drizzle() call that wraps it", async () => {
    expectPgpartsError(
      await rejection(maintain(pool as never, { families: builtInFamilies })),
      'invalid-input',
      {
        message: new RegExp(
          `^pgparts: maintain: ${notDrizzle.source}got a node-postgres Pool itself: pass drizzle\\(pool\\) \\(from 'drizzle-orm/node-postgres'\\)$`,
        ),
      },
    );
    expectPgpartsError(
      await rejection(drainKey(t.sql as never, leaderboardFamily, { kind: 'list', value: 3 })),
      'invalid-input',
      { message: /^pgparts: drain: .*got postgres\.js's client itself: pass drizzle\(sql\)/ },
    );
    expectPgpartsError(
      await rejection(prometheusMetrics(pool as never, builtInFamilies)),
      'invalid-input',
      { message: /^pgparts: prometheusMetrics: .*node-postgres Pool itself/ },
    );
    for (const nothing of [null, undefined]) {
      expectPgpartsError(
        await rejection(inspect(nothing as never, builtInFamilies)),
        'invalid-input',
        { message: new RegExp(`^pgparts: inspect: ${notDrizzle.source}got ${nothing}$`) },
      );
    }
  });
});

describe('options and inputs of the wrong type', () => {
  it('an unknown option of prometheusMetrics is refused, not ignored', async () => {
    expectPgpartsError(
      await rejection(prometheusMetrics(t.db, builtInFamilies, { lockTimeout: 50 } as never)),
      'invalid-config',
      { message: /prometheusMetrics: invalid options, nothing was done:\n {2}- lockTimeout: / },
    );
  });

  it('a `now` that is no Date, or an invalid one, for plan and status', async () => {
    const snapshot = await inspect(t.db, builtInFamilies);
    expectPgpartsError(
      thrown(() => plan(builtInFamilies, snapshot, '2026-01-01' as never)),
      'invalid-input',
      { message: 'pgparts: plan needs a valid `now` (a Date), not "2026-01-01"' },
    );
    expectPgpartsError(
      thrown(() => status(builtInFamilies, snapshot, new Date('soon'))),
      'invalid-input',
      { message: 'pgparts: plan needs a valid `now` (a Date), not an invalid Date' },
    );
  });

  it('retention.keep below 1 is said once, in words', () => {
    const error = expectPgpartsError(
      thrown(() => parseFamily({ ...killmailFamily, retention: { keep: -1 } } as never)),
      'invalid-config',
    );
    expect(error.message.split('\n').slice(1)).toEqual([
      '  - retention.keep: expected a whole number of 1 or more',
    ]);
  });

  it('an invalid Date in a key or a query input', async () => {
    expectPgpartsError(
      await rejection(
        retireKey(t.db, killmailFamily, {
          kind: 'range',
          from: new Date('x'),
          to: new Date('2020-02-01T00:00:00Z'),
        }),
      ),
      'invalid-input',
      { message: /\n {2}- from: expected a valid Date$/ },
    );
    expectPgpartsError(
      await rejection(
        latestKillmails(t.db, { before: { killmailTime: new Date('x'), killmailId: 1 } }),
      ),
      'invalid-input',
      {
        message:
          /- before\.killmailTime: expected a valid Date, or an ISO 8601 string with an offset/,
      },
    );
  });
});

describe('an operation PostgreSQL runs only outside a transaction, given one', () => {
  it('retireKey(tx) is refused before its first statement; the partitions stay', async () => {
    const applied = await maintain(t.db, {
      families: [killmailFamily],
      now: new Date('2020-03-01T00:00:00Z'),
    });
    expect(applied.failed).toBe(0);
    const attached = async () =>
      rowsOf<{ n: number }>(
        await t.db.execute(sql`SELECT count(*)::int AS n FROM pg_inherits
          WHERE inhrelid::regclass::text LIKE '%\\_2020\\_01'`),
      )[0]?.n;
    const before = await attached();
    expect(before).toBeGreaterThan(0);
    const key = {
      kind: 'range',
      from: new Date('2020-01-01T00:00:00Z'),
      to: new Date('2020-02-01T00:00:00Z'),
    } as const;
    expectPgpartsError(
      await rejection(t.db.transaction((tx) => retireKey(tx, killmailFamily, key))),
      'unsupported-driver',
      {
        message:
          'pgparts: retire: given a transaction, but it detaches partitions CONCURRENTLY, which PostgreSQL refuses inside a transaction block; pass the database itself; nothing was changed',
      },
    );
    expect(await attached()).toBe(before);
  });
});
