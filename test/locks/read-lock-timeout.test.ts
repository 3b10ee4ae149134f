import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { type ApplyEvent, apply } from '../../src/run/apply.js';
import { pgpartsIn } from '../cli/run-cli.js';
import { openTransaction } from '../support/open-transaction.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * apply reads the catalog and probes each DEFAULT before it plans; a session holding a lock on a
 * DEFAULT (a long ALTER, a LOCK TABLE) made that read wait lock_timeout and retry, silently, for
 * as long as the lock was held, and its last failure surfaced as the bare server error. Each
 * retry is now an event (the CLI prints it), and giving up is a lock-timeout error saying so.
 */
/** A folder with a pgparts config declaring `regions`, removed after the file. */
function configFolder(): string {
  const app = mkdtempSync(join(tmpdir(), 'pgparts-read-lock-'));
  afterAll(() => rmSync(app, { recursive: true, force: true }));
  writeFileSync(
    join(app, 'pgparts.config.cjs'),
    `module.exports = { families: [${JSON.stringify(regions)}] };\n`,
  );
  return app;
}

const regions = parseFamily({
  name: 'regions',
  tables: ['region_orders'],
  partitionBy: { strategy: 'list', column: 'region', values: ['eu'] },
  defaultPartition: true,
});

async function setUp(): Promise<void> {
  await t.sql.unsafe(`
    CREATE TABLE IF NOT EXISTS region_orders (id bigint NOT NULL, region text NOT NULL,
      PRIMARY KEY (id, region)) PARTITION BY LIST (region);`);
  expect((await apply(t.db, { families: [regions] })).failed).toBe(0);
  // A row of an undeclared value: DEFAULT holds something to probe.
  await t.sql`INSERT INTO region_orders VALUES (1, 'zz') ON CONFLICT DO NOTHING`;
}

/** Another session's transaction holding ACCESS EXCLUSIVE on DEFAULT until commit(). */
const lockDefault = () =>
  openTransaction(t.connect({ max: 1 }), [
    'LOCK TABLE region_orders_default IN ACCESS EXCLUSIVE MODE',
  ]);

describe("apply's catalog read behind a lock on DEFAULT", () => {
  it('tells each retry, and goes on once the lock is gone', async () => {
    await setUp();
    const holder = await lockDefault();
    const retries: Extract<ApplyEvent, { type: 'read-retry' }>[] = [];
    let released: Promise<void> | undefined;
    let result: Awaited<ReturnType<typeof apply>>;
    try {
      result = await apply(t.db, {
        families: [regions],
        lockTimeoutMs: 100,
        retries: 20,
        backoffMs: 10,
        onProgress: (event) => {
          if (event.type !== 'read-retry') return;
          retries.push(event);
          // The lock goes after the first retry is told: the next attempt gets through.
          released ??= holder.commit();
        },
      });
    } finally {
      await (released ?? holder.commit());
    }
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({
      attempt: 1,
      message: expect.stringMatching(/lock timeout/),
    });
    expect(result).toMatchObject({ status: 'applied', ok: true, failed: 0 });
  });

  it('gives up with a lock-timeout error that says what waited', async () => {
    await setUp();
    const holder = await lockDefault();
    try {
      const retries: number[] = [];
      const error = await rejection(
        apply(t.db, {
          families: [regions],
          lockTimeoutMs: 50,
          retries: 2,
          backoffMs: 10,
          onProgress: (event) => {
            if (event.type === 'read-retry') retries.push(event.attempt);
          },
        }),
      );
      expectPgpartsError(error, 'lock-timeout', {
        message:
          /^pgparts: reading the catalog \(DEFAULT partitions are probed\): gave up after 3 attempts: each waited lock_timeout \(50 ms\)/,
      });
      expect(retries).toEqual([1, 2]);
    } finally {
      await holder.commit();
    }
  });

  it('pgparts apply --yes prints each retry and the give-up, exit 1', async () => {
    await setUp();
    const app = configFolder();
    const holder = await lockDefault();
    try {
      const run = await pgpartsIn(
        app,
        t.url,
        'apply',
        '--yes',
        '--lock-timeout',
        '50',
        '--retries',
        '2',
      );
      expect(run.code).toBe(1);
      const retries = run.stdout
        .split('\n')
        .filter((line) => line.startsWith('  reading the catalog: attempt '));
      expect(retries).toHaveLength(2);
      expect(retries[0]).toMatch(
        /^ {2}reading the catalog: attempt 1 gave up \(.*lock timeout.*\); retrying in \d+ ms$/,
      );
      expect(run.stderr).toMatch(
        /reading the catalog \(DEFAULT partitions are probed\): gave up after 3 attempts/,
      );
    } finally {
      await holder.commit();
    }
  });

  /**
   * The commands that read before they (might) act read the catalog without apply's retries:
   * each failed at once with the bare server error ("canceling statement due to lock timeout").
   * They now retry it the same way (their --lock-timeout and --retries), printing each retry
   * on stderr (stdout stays the report, JSON or metrics), and give up with the same error.
   */
  it('plan, status (every format), apply --dry-run and apply retry the read and say why they gave up', async () => {
    await setUp();
    const app = configFolder();
    const holder = await lockDefault();
    try {
      const commands = [
        ['plan'],
        ['plan', '--json'],
        ['status'],
        ['status', '--format', 'prometheus'],
        ['status', '--json', '--exact'],
        ['apply', '--dry-run'],
        // Without --yes, apply reads the catalog first to ask about destructive steps.
        ['apply'],
      ];
      for (const command of commands) {
        const run = await pgpartsIn(
          app,
          t.url,
          ...command,
          '--lock-timeout',
          '50',
          '--retries',
          '1',
        );
        const name = command.join(' ');
        expect(run.code, name).toBe(1);
        const retryOut = command[0] === 'apply' && command.length === 1 ? run.stdout : run.stderr;
        expect(retryOut, name).toMatch(
          /^ {2}reading the catalog: attempt 1 gave up \(.*lock timeout.*\); retrying in \d+ ms$/m,
        );
        expect(run.stderr, name).toMatch(
          /pgparts: reading the catalog \(DEFAULT partitions are probed\): gave up after 2 attempts: each waited lock_timeout \(50 ms\)/,
        );
        if (command[0] !== 'apply' || command.length > 1) expect(run.stdout, name).toBe('');
      }
    } finally {
      await holder.commit();
    }
  });

  it('inspect tells each retry and returns once the lock is gone', async () => {
    await setUp();
    const holder = await lockDefault();
    const attempts: number[] = [];
    let released: Promise<void> | undefined;
    try {
      const snapshot = await inspect(t.db, [regions], {
        lockTimeoutMs: 50,
        retries: 20,
        backoffMs: 10,
        onRetry: (attempt) => {
          attempts.push(attempt);
          released ??= holder.commit();
        },
      });
      const table = snapshot.families[0]?.tables[0];
      expect(table?.partitions.map((p) => p.name).sort()).toEqual([
        'region_orders_default',
        'region_orders_seu',
      ]);
      expect(attempts[0]).toBe(1);
    } finally {
      await (released ?? holder.commit());
    }
  });
});

/**
 * A drain read the family's tables (its key check, then DEFAULT and the partitions) with no
 * lock_timeout: behind a session holding a lock on DEFAULT, `pgparts drain` and its --dry-run
 * waited silently for as long as that session held it. Those reads now wait lock_timeout, are
 * retried, and give up with a lock-timeout error; nothing is recorded or made.
 */
describe("a drain's reads behind a lock on DEFAULT", { timeout: 20_000 }, () => {
  const declared = parseFamily({
    ...regions,
    partitionBy: { ...regions.partitionBy, values: ['eu', 'zz'] },
  });
  const lock = { lockTimeoutMs: 50, retries: 1 };
  const operations = async () =>
    (await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pgparts_operations`)[0]?.n ?? 0;

  it('drainKey and drainDryRun give up on the state read of a declared key', async () => {
    await setUp();
    const holder = await lockDefault();
    try {
      for (const run of [
        () => drainKey(t.db, declared, { kind: 'list', value: 'zz' }, lock),
        () => drainDryRun(t.db, declared, { kind: 'list', value: 'zz' }, lock),
      ]) {
        expectPgpartsError(await rejection(run()), 'lock-timeout', {
          message:
            /^pgparts: reading the drain's tables \(the family's DEFAULT and partitions\): gave up after 2 attempts: each waited lock_timeout \(50 ms\)/,
        });
      }
    } finally {
      await holder.commit();
    }
    expect(await operations()).toBe(0);
    const [left] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_class WHERE relkind IN ('r', 'p') AND relname LIKE 'region_orders%' AND relname NOT IN ('region_orders', 'region_orders_default', 'region_orders_seu')`;
    expect(left?.n).toBe(0);
  });

  it("gives up on the key check's read of an undeclared key, and pgparts drain --dry-run says so", async () => {
    await setUp();
    const app = configFolder();
    const holder = await lockDefault();
    try {
      expectPgpartsError(
        await rejection(drainKey(t.db, regions, { kind: 'list', value: 'yy' }, lock)),
        'lock-timeout',
        {
          message:
            /^pgparts: checking the drain's key \(the family's tables are read for its rows\) \(regions\): gave up after 2 attempts/,
        },
      );
      const run = await pgpartsIn(
        app,
        t.url,
        'drain',
        'regions',
        'zz',
        '--dry-run',
        '--lock-timeout',
        '50',
        '--retries',
        '1',
      );
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /^ {2}\S.*: attempt 1 gave up \(.*lock timeout.*\); retrying in \d+ ms$/m,
      );
      expect(run.stderr).toMatch(/gave up after 2 attempts: each waited lock_timeout \(50 ms\)/);
    } finally {
      await holder.commit();
    }
  });
});
