import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { apply } from '../../src/run/apply.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';
import { ap, orders, useOrdersOwner } from './orders-owner.js';

const t = useTestDatabase({ migrated: false });
const owner = useOrdersOwner(t, 'pgparts_trg');

/**
 * A drain by delete removes the moved rows from DEFAULT before their partition is attached. The
 * app's own DELETE triggers on the family's tables (an audit row per deleted order, a cleanup of
 * another table) would take every moved row for a deleted one, unless the delete runs with
 * session_replication_role = replica, and a trigger enabled ALWAYS fires even then. Such a drain
 * is refused before anything is written; once nothing would fire, it moves every row and leaves
 * the app's other tables as they were.
 */
const state = async () => ({
  orders: await tableDigest(t.sql, 'orders', ['id', 'region']),
  audit: await tableDigest(t.sql, 'audit', ['order_id', 'what']),
  side: await tableDigest(t.sql, 'side', ['order_id', 'note']),
});

beforeAll(async () => {
  // DEFAULT made by the app (not pgparts's own): auto drains by delete, as it does on
  // PostgreSQL 14-17 for every family with foreign keys between its tables.
  await owner.sql.unsafe(`
    CREATE TABLE orders (id bigint NOT NULL, region text NOT NULL, PRIMARY KEY (region, id))
      PARTITION BY LIST (region);
    CREATE TABLE orders_default PARTITION OF orders DEFAULT;
    CREATE TABLE audit (order_id bigint, what text);
    CREATE TABLE side (order_id bigint, note text);
    CREATE FUNCTION order_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO audit VALUES (OLD.id, 'deleted');
        DELETE FROM side WHERE order_id = OLD.id;
        RETURN OLD;
      END $$;
    CREATE TRIGGER order_deleted AFTER DELETE ON orders
      FOR EACH ROW EXECUTE FUNCTION order_deleted();
    INSERT INTO orders SELECT g, (ARRAY['eu', 'ap'])[g % 2 + 1] FROM generate_series(1, 1000) g;
    INSERT INTO side SELECT id, 'keep me' FROM orders;`);
});

const version = async () => {
  const [row] = await t.sql<{ v: number }[]>`
    SELECT current_setting('server_version_num')::int AS v`;
  return row?.v ?? 0;
};

describe("a drain by delete, with the app's own DELETE trigger on the family's table", () => {
  it('is refused, dry run, run and apply, naming the trigger and the grant, when the role cannot skip triggers', async () => {
    const db = drizzle(owner.sql);
    const before = await state();
    expect(before.side.rows).toBe(1000);
    for (const attempt of [
      () => drainDryRun(db, orders, ap),
      () => drainKey(db, orders, ap),
      () => drainKey(db, orders, ap, { strategy: 'delete' }),
    ]) {
      expectPgpartsError(await rejection(attempt()), 'refused', {
        message:
          /the app's DELETE trigger "order_deleted" on orders_default would fire for each moved row as if it were deleted; the role cannot set session_replication_role = replica, which keeps foreign key actions and ordinary triggers from firing, so nothing was changed: (let the role set it \(GRANT SET ON PARAMETER session_replication_role|drain as a superuser)/,
      });
    }
    const applied = await apply(db, { families: [orders] });
    expect(applied.results.map((r) => [r.step.kind, r.step.label, r.outcome])).toEqual([
      ['drain', 'ap', 'failed'],
      ['drain', 'eu', 'failed'],
    ]);
    expect(await state()).toEqual(before);
  });

  it('is refused even with the grant while the trigger is enabled ALWAYS', async (ctx) => {
    if ((await version()) < 150000) ctx.skip();
    await t.sql.unsafe(`GRANT SET ON PARAMETER session_replication_role TO ${owner.role}`);
    await owner.sql.unsafe('ALTER TABLE orders_default ENABLE ALWAYS TRIGGER order_deleted');
    const before = await state();
    expectPgpartsError(await rejection(drainKey(drizzle(owner.sql), orders, ap)), 'refused', {
      message:
        /"order_deleted" on orders_default \(ENABLE ALWAYS\) would fire for each moved row as if it were deleted; nothing was changed: disable the trigger enabled ALWAYS or REPLICA for the drain/,
    });
    expect(await state()).toEqual(before);
  });

  it('moves every row and fires nothing once the role may set session_replication_role', async (ctx) => {
    if ((await version()) < 150000) ctx.skip();
    await owner.sql.unsafe('ALTER TABLE orders_default ENABLE TRIGGER order_deleted');
    const before = await state();
    const result = await drainKey(drizzle(owner.sql), orders, ap);
    expect(result).toMatchObject({
      status: 'drained',
      strategy: 'delete',
      rowsMoved: 500,
      skippedTriggers: true,
    });
    expect(await state()).toEqual(before);
    const [audit] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM audit`;
    expect(audit?.n).toBe(0);
  });
});

describe('a swap, with a trigger made on DEFAULT itself', () => {
  const notes = parseFamily({
    name: 'notes',
    schema: 'public',
    tables: ['notes'],
    partitionBy: { strategy: 'list', column: 'topic', values: [1] },
    defaultPartition: true,
  });

  it('is refused when asked for (the successor would not have it); auto drains by delete and keeps it', async () => {
    await t.sql.unsafe(`
      CREATE TABLE notes (topic int NOT NULL, id bigint NOT NULL, PRIMARY KEY (topic, id))
        PARTITION BY LIST (topic);
      CREATE TABLE note_log (id bigint);
      CREATE FUNCTION note_logged() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO note_log VALUES (NEW.id); RETURN NEW; END $$;`);
    expect((await apply(t.db, { families: [notes] })).failed).toBe(0);
    await t.sql.unsafe(`
      CREATE TRIGGER note_logged AFTER INSERT ON notes_default
        FOR EACH ROW EXECUTE FUNCTION note_logged();
      INSERT INTO notes SELECT 2, g FROM generate_series(1, 300) g;`);
    const two = { kind: 'list', value: 2 } as const;
    const before = await tableDigest(t.sql, 'notes', ['topic', 'id']);
    expectPgpartsError(
      await rejection(drainKey(t.db, notes, two, { strategy: 'swap' })),
      'refused',
      {
        message:
          /cannot swap: notes_default has a trigger of its own \("note_logged", not made on notes\), which the table a swap puts in its place would not have/,
      },
    );
    const result = await drainKey(t.db, notes, two);
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 300 });
    expect(await tableDigest(t.sql, 'notes', ['topic', 'id'])).toEqual(before);
    const [kept] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_trigger
      WHERE tgrelid = 'notes_default'::regclass AND tgname = 'note_logged'`;
    expect(kept?.n).toBe(1);
  });
});
