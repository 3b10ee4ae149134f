import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

/**
 * A drain's prepare (its capture trigger, its staging tables) commits without waiting for the
 * WAL flush: a later commit's flush (the copy's, the final phase's) makes it durable. What must
 * hold: the prepare's DDL runs with synchronous_commit off, the final phase's with the session's
 * own setting (its commit is what the caller is told of), and every row is where it was.
 * The settings are read back by an event trigger, which runs in the transaction of the
 * statement that fired it.
 */
const t = useTestDatabase();

const samples = parseFamily({
  name: 'samples',
  tables: ['samples'],
  partitionBy: { strategy: 'list', column: 'site' },
  defaultPartition: true,
});

describe("a drain's prepare", () => {
  it('commits without waiting for the WAL flush; its final phase waits as the session does', async () => {
    await t.sql.unsafe(`
      CREATE TABLE samples (id bigint NOT NULL, site int NOT NULL, value int,
        PRIMARY KEY (id, site)) PARTITION BY LIST (site);
      CREATE TABLE samples_default PARTITION OF samples DEFAULT;
      INSERT INTO samples SELECT i, i % 3, i FROM generate_series(1, 3000) i;
      CREATE TABLE ddl_settings (tag text, object text, sync text);
      CREATE FUNCTION note_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ddl_settings
          SELECT c.command_tag, c.object_identity, current_setting('synchronous_commit')
          FROM pg_event_trigger_ddl_commands() c;
      END $$;
      CREATE EVENT TRIGGER note_ddl ON ddl_command_end
        WHEN TAG IN ('CREATE TABLE', 'CREATE TRIGGER', 'ALTER TABLE')
        EXECUTE FUNCTION note_ddl();`);
    const before = await tableDigest(t.sql, 'samples', ['id', 'site']);
    // The test server runs with synchronous_commit off; an app's session waits for the flush.
    const app = t.connect({ max: 2, connection: { synchronous_commit: 'on' } });
    const result = await drainKey(drizzle(app), samples, { kind: 'list', value: 1 });
    await app.end();
    expect(result).toMatchObject({ status: 'drained', rowsMoved: 1000 });
    expect(await tableDigest(t.sql, 'samples', ['id', 'site'])).toEqual(before);
    const noted = await t.sql<{ tag: string; object: string; sync: string }[]>`
      SELECT tag, object, sync FROM ddl_settings ORDER BY tag, object`;
    const setting = (tag: string, object: RegExp) =>
      noted.filter((n) => n.tag === tag && object.test(n.object)).map((n) => n.sync);
    // The prepare: the staging table, and DEFAULT's capture triggers.
    expect(setting('CREATE TABLE', /^public\.samples_s1$/)).toEqual(['off']);
    expect(setting('CREATE TRIGGER', /pgparts_capture on public\.samples_default$/)).toEqual([
      'off',
    ]);
    // The final phase's ATTACH of the new partition: the session's own setting.
    const attach = setting('ALTER TABLE', /^public\.samples$/);
    expect(attach.length).toBeGreaterThan(0);
    expect(new Set(attach)).toEqual(new Set(['on']));
  });
});
