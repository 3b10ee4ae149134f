import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { abandonDrain } from '../../src/ops/drain/abandon.js';
import { type DrainOptions, drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { commitWhenWaitedOn } from '../support/commit-when-waited-on.js';
import { tableDigest } from '../support/table-checksum.js';
import { type TestDatabase, useTestDatabase } from '../support/test-database.js';

/**
 * A swap validates the keys from the family to tables outside it (orders.customer_id ->
 * customers) on its staging tables before its final phase. Those tables hold copies: the app
 * deleting an order and then its customer must not be checked against the order's copy.
 * `orders_expected` is a plain copy of the rows the drain must leave, deleted from alongside.
 */
const orders = parseFamily({
  name: 'orders',
  schema: 'public',
  tables: ['orders'],
  partitionBy: { strategy: 'list', column: 'region', values: ['eu', 'ap'] },
  defaultPartition: true,
});

async function setUp(t: TestDatabase): Promise<void> {
  await t.sql.unsafe(`
    CREATE TABLE customers (id bigint PRIMARY KEY);
    CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL,
      customer_id bigint NOT NULL REFERENCES customers, note text NOT NULL DEFAULT '',
      PRIMARY KEY (region, id)) PARTITION BY LIST (region);
    INSERT INTO customers SELECT g FROM generate_series(1, 500) g;`);
  const euOnly = parseFamily({
    ...orders,
    partitionBy: { strategy: 'list', column: 'region', values: ['eu'] },
  });
  expect((await apply(t.db, { families: [euOnly] })).failed).toBe(0);
  // One order per customer: 'ap' lands in DEFAULT.
  await t.sql.unsafe(`
    INSERT INTO orders SELECT g, (ARRAY['eu', 'ap'])[g % 2 + 1], g FROM generate_series(1, 500) g;
    CREATE TABLE orders_expected AS SELECT * FROM orders;`);
}

/** The app's transaction: an order, then its customer. Mirrored in orders_expected. */
async function deleteOrderAndCustomer(t: TestDatabase, id: number): Promise<void> {
  await t.sql.begin(async (tx) => {
    await tx`DELETE FROM orders WHERE region = 'ap' AND id = ${id}`;
    await tx`DELETE FROM customers WHERE id = ${id}`;
  });
  await t.sql`DELETE FROM orders_expected WHERE region = 'ap' AND id = ${id}`;
}

async function expectEveryRowWhereItBelongs(t: TestDatabase): Promise<void> {
  const [stray] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM orders_default`;
  expect(stray?.n).toBe(0);
  const order = ['region', 'id'];
  expect(await tableDigest(t.sql, 'orders', order)).toEqual(
    await tableDigest(t.sql, 'orders_expected', order),
  );
  const [key] = await t.sql<{ valid: boolean }[]>`
    SELECT convalidated AS valid FROM pg_constraint
    WHERE conrelid = 'orders_sap'::regclass AND contype = 'f'`;
  expect(key?.valid).toBe(true);
}

const AP = { kind: 'list', value: 'ap' } as const;

/** Drains 'ap' out of orders' DEFAULT. */
const drainAp = (t: TestDatabase, options: DrainOptions) => drainKey(t.db, orders, AP, options);

const stop = new Error('stopped after the keys');

/** A swap stopped once its trigger removes copies and the copies carry the key to customers. */
const interruptAfterKeys = (t: TestDatabase) =>
  drainAp(t, {
    strategy: 'swap',
    onPhase: (phase) => {
      if (phase === 'replayed') throw stop;
    },
  });

/** A database of its own (for the describe it is called in), and the interrupted swap's helpers. */
function interruptedSwap() {
  const t = useTestDatabase({ migrated: false });
  return { t, interrupt: () => interruptAfterKeys(t), triggers: () => removalObjects(t) };
}

/** The removal triggers and their functions in the database. */
const removalObjects = async (t: TestDatabase) =>
  (
    await t.sql<{ n: number }[]>`
      SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'pgparts_remove_copies')::int +
             (SELECT count(*) FROM pg_proc WHERE proname LIKE 'pgparts_remove_copies%')::int AS n`
  )[0]?.n;

describe('a swap with a key to a table outside the family', () => {
  describe('the app deleting during each phase', () => {
    const t = useTestDatabase({ migrated: false });
    it("lets the app delete an order and then its customer in every phase; the drain's trigger goes with the old DEFAULT", async () => {
      await setUp(t);
      const failures: string[] = [];
      const phases: string[] = [];
      let next = 1; // odd ids are 'ap'
      const result = await drainAp(t, {
        strategy: 'swap',
        onPhase: async (phase) => {
          // Under the drain's locks the app's delete would wait for them: the drain waits for it.
          if (phase === 'locked') return;
          phases.push(phase);
          try {
            await deleteOrderAndCustomer(t, next);
          } catch (error) {
            failures.push(`${phase}: ${(error as Error).message}`);
          }
          next += 2;
        },
      });
      expect(failures).toEqual([]);

      expect(phases).toEqual(expect.arrayContaining(['keys', 'replayed', 'finishing']));
      expect(result).toMatchObject({ status: 'drained', strategy: 'swap' });
      // Moved: every 'ap' order but those deleted before the final phase committed.
      expect(result.rowsMoved).toBe(250 - phases.indexOf('validating'));
      await expectEveryRowWhereItBelongs(t);
      const [left] = await t.sql<{ n: number }[]>`
      SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'pgparts_remove_copies')::int + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'pgparts_remove_copies%')::int AS n`;
      expect(left?.n).toBe(0);
    });
  });
  describe('a replay racing the app', () => {
    const t = useTestDatabase({ migrated: false });
    it('replays again a row whose copy came back after the app deleted it and its customer', async () => {
      await setUp(t);
      // The row the replay reads before the app's transaction commits: 3 ('ap', customer 3).
      const app = await t.sql.reserve();
      let keysAdded = false;
      let raced = false;
      let watching: Promise<number> = Promise.resolve(Infinity);
      try {
        const result = await drainAp(t, {
          strategy: 'swap',
          onPhase: async (phase) => {
            // Something for the first replay round after the keys, so that a second one runs.
            if (phase === 'keys') {
              keysAdded = true;
              await t.sql`UPDATE orders SET note = 'first' WHERE region = 'ap' AND id = 1`;
              await t.sql`UPDATE orders_expected SET note = 'first' WHERE region = 'ap' AND id = 1`;
            }
          },
          onProgress: async (progress) => {
            if (!keysAdded || raced || progress.phase !== 'replay') return;
            raced = true;
            // Logged and committed: the next round replays order 3 from what DEFAULT holds.
            await t.sql`UPDATE orders SET note = 'changed' WHERE region = 'ap' AND id = 3`;
            // The app deletes order 3 and customer 3, and commits only once the replay waits on
            // the customer's row (its key check on the copy it writes back).
            await app`BEGIN`;
            await app`DELETE FROM orders WHERE region = 'ap' AND id = 3`;
            await app`DELETE FROM customers WHERE id = 3`;
            watching = commitWhenWaitedOn(t, app);
          },
        });
        expect(raced).toBe(true);
        // The replay waited for the app (measured from pg_locks), not the 10 s limit.
        expect(await watching).toBeLessThan(10_000);
        expect(result).toMatchObject({ status: 'drained', strategy: 'swap' });
        // Every 'ap' order but 3, which the app deleted before the final phase.
        expect(result.rowsMoved).toBe(249);
      } finally {
        app.release();
      }
      await t.sql`DELETE FROM orders_expected WHERE region = 'ap' AND id = 3`;
      const [gone] = await t.sql<
        { n: number }[]
      >`SELECT count(*)::int AS n FROM customers WHERE id = 3`;
      expect(gone?.n).toBe(0);
      await expectEveryRowWhereItBelongs(t);
    });
  });

  describe('a swap interrupted once its trigger removes copies', () => {
    const { t, interrupt, triggers } = interruptedSwap();

    it('is given up with its trigger and records; then resumed by delete, which drops the trigger before it deletes', async () => {
      await setUp(t);
      await expect(interrupt()).rejects.toBe(stop);
      expect(await triggers()).toBe(2);
      // The trigger removes the copy (and records it) as the app deletes.
      await deleteOrderAndCustomer(t, 1);
      const [records] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pgparts_changes WHERE source_table LIKE 'removed from %'`;
      expect(records?.n).toBe(1);
      const abandoned = await abandonDrain(t.db, orders, AP);
      expect(abandoned.statements.join('\n')).toContain(
        'DROP TRIGGER IF EXISTS "pgparts_remove_copies" ON "public"."orders_default"',
      );
      expect(await triggers()).toBe(0);
      const [left] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM pgparts_changes`;
      expect(left?.n).toBe(0);

      await expect(interrupt()).rejects.toBe(stop);
      expect(await triggers()).toBe(2);
      await deleteOrderAndCustomer(t, 3);
      // By delete: the final phase deletes the key's rows from DEFAULT; the trigger, were it
      // still there, would delete their copies from the staging table with them.
      const result = await drainAp(t, { strategy: 'delete' });
      expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 248 });
      expect(await triggers()).toBe(0);
      await expectEveryRowWhereItBelongs(t);
    });
  });

  describe('a swap resumed by swap', () => {
    const { t, interrupt, triggers } = interruptedSwap();

    it('the copies lose the trigger and their keys until they have their indexes again', async () => {
      await setUp(t);
      await expect(interrupt()).rejects.toBe(stop);
      await deleteOrderAndCustomer(t, 1);
      const phases: string[] = [];
      const result = await drainAp(t, {
        strategy: 'swap',
        onPhase: async (phase) => {
          if (phase === 'locked' || phase === 'validating') return;
          phases.push(phase);
          // 3, 5, ...: each delete goes through, whatever the copies hold.
          await deleteOrderAndCustomer(t, 1 + 2 * phases.length);
        },
      });
      expect(phases).toContain('prepared');
      expect(result).toMatchObject({ status: 'drained', strategy: 'swap' });
      expect(result.rowsMoved).toBe(250 - 1 - phases.length);
      expect(await triggers()).toBe(0);
      await expectEveryRowWhereItBelongs(t);
    });
  });
});
