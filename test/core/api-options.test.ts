import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireDryRun, retireKey, unretireKey } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { maintain } from '../../src/run/maintain.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * Options and keys given to the API are checked before anything runs: a wrong type or an
 * unknown name is an error naming it, never ignored. `allowDestructive: 'false'` (a string from
 * an environment variable) is truthy, and retired a month; `dryRun: true` (the CLI's flag) ran
 * the whole plan for real; `strategy: 'swpa'` drained by delete; `mode: 'archiv'` moved the
 * partitions to the archive recorded as neither mode.
 */
const events = parseFamily({
  name: 'ao_events',
  tables: ['ao_events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past: 1 },
  defaultPartition: true,
  retention: { keep: 2, mode: 'archive' },
});
const march = {
  kind: 'range',
  from: new Date('2026-03-01T00:00:00Z'),
  to: new Date('2026-04-01T00:00:00Z'),
} as const;
const now = new Date('2026-06-15T00:00:00Z');

/** Every table and partition there is, with the rows of the family: nothing may change. */
async function everything() {
  const tables = await t.sql<{ name: string; schema: string }[]>`
    SELECT c.relname AS name, n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'pgparts_archive') ORDER BY 2, 1`;
  return { tables, rows: await tableDigest(t.sql, 'ao_events', ['id', 'at']) };
}

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE ao_events (id bigint NOT NULL, at timestamptz NOT NULL, PRIMARY KEY (id, at))
      PARTITION BY RANGE (at)`);
  expect((await apply(t.db, { families: [events], now })).failed).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO ao_events SELECT i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour'
      FROM generate_series(0, 99) i;
    INSERT INTO ao_events SELECT 1000 + i, timestamptz '2025-01-01 00:00:00+00' + i * interval '1 hour'
      FROM generate_series(0, 9) i;`);
});

describe('the API refuses bad options and keys, changing nothing', () => {
  it.each([
    [
      'maintain',
      { allowDestructive: 'false' },
      /allowDestructive: expected true, false or a function approving each step/,
    ],
    ['maintain', { allowDestrutive: true }, /allowDestrutive: not an option of maintain/],
    ['apply', { dryRun: true }, /dryRun: not an option of apply \(the API has no dry run option/],
    ['apply', { backoffMs: -1 }, /backoffMs: Too small/],
    ['apply', { families: events }, /families: Invalid input: expected array/],
    ['maintain', { now: new Date('not a date') }, /now: expected a valid Date/],
  ] as const)('%s(%j)', async (operation, extra, message) => {
    const before = await everything();
    const options = { families: [events], now, ...extra } as never;
    const run = operation === 'maintain' ? maintain(t.db, options) : apply(t.db, options);
    expectPgpartsError(await rejection(run), 'invalid-config', { message });
    expect(await everything()).toEqual(before);
  });

  it('drain, retire, reattach, unretire: unknown names, wrong values and ill-formed keys', async () => {
    const before = await everything();
    const refusals: [Promise<unknown>, 'invalid-config' | 'invalid-input', RegExp][] = [
      [
        drainKey(t.db, events, march, { strategy: 'swpa' } as never),
        'invalid-config',
        /strategy: Invalid option/,
      ],
      [drainKey(t.db, events, march, { batchPages: 0 }), 'invalid-config', /batchPages: Too small/],
      [
        drainDryRun(t.db, events, march, { dryRun: true } as never),
        'invalid-config',
        /dryRun: not an option of drain/,
      ],
      [
        drainKey(t.db, events, { kind: 'lst', value: 2 } as never),
        'invalid-input',
        /the key is not/,
      ],
      [
        retireKey(t.db, events, march, { mode: 'archiv' } as never),
        'invalid-config',
        /mode: Invalid option/,
      ],
      [
        retireDryRun(t.db, events, march, { yes: true } as never),
        'invalid-config',
        /yes: not an option of retire \(the API has no yes option/,
      ],
      [
        retireKey(t.db, events, { kind: 'range', from: '2026-03-01', to: '2026-04-01' } as never),
        'invalid-input',
        /from: expected a valid Date/,
      ],
      [
        reattachKey(t.db, events, march, { mode: 'drop' } as never),
        'invalid-config',
        /mode: not an option of reattach/,
      ],
      [unretireKey(t.db, events, { value: 3 } as never), 'invalid-input', /the key is not/],
    ];
    for (const [run, code, message] of refusals) {
      expectPgpartsError(await rejection(run), code, { message });
    }
    expectPgpartsError(await rejection(inspect(t.db, events as never)), 'invalid-config', {
      message: /families must be an array of family specs, not object \(one family: \[family\]\)/,
    });
    expect(await everything()).toEqual(before);
  });
});
