import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { OWNED_TABLES, OWNERSHIP_ADOPTED, ownershipSetupSql } from '../../src/sql/ownership.js';
import { useTestDatabase } from '../support/test-database.js';

const source = useTestDatabase({ migrated: false });
const target = useTestDatabase({ migrated: false });

/**
 * pgparts records the tables it made by their oid. A dump restored into another database (a
 * move to a new server, a staging copy, a disaster recovery) gives every table a new oid: with
 * the records keyed by an `oid` column, nothing matched afterwards, every partition was reported
 * "not created by pgparts", and retention skipped them all, silently, for good. The key is a
 * regclass now, which a dump writes as the table's name and a restore reads back as its new oid.
 *
 * The dump here is what pg_dump does for this: the tables made again from their definitions
 * (new oids), then each bookkeeping table's rows copied out and in as COPY's text, with
 * search_path empty as pg_dump sets it.
 */
const family = (keep?: number, schema = 'public') =>
  parseFamily({
    name: 'events',
    schema,
    tables: ['events'],
    partitionBy: {
      strategy: 'range',
      column: 'occurred_at',
      interval: 'month',
      premake: 2,
      past: keep ? 3 : 6,
    },
    defaultPartition: true,
    ...(keep ? { retention: { keep, mode: 'drop' as const } } : {}),
  });

const events = (schema = 'public') => `CREATE TABLE ${schema}.events (id bigint NOT NULL,
  occurred_at timestamptz NOT NULL, PRIMARY KEY (id, occurred_at)) PARTITION BY RANGE (occurred_at)`;

async function copyOut(sql: postgres.Sql, table: string): Promise<string> {
  const chunks: Buffer[] = [];
  await pipeline(
    await sql.unsafe(`COPY ${table} TO STDOUT`).readable(),
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    }),
  );
  return Buffer.concat(chunks).toString('utf8');
}

async function copyIn(sql: postgres.Sql, table: string, text: string): Promise<void> {
  const stream = await sql.unsafe(`COPY ${table} FROM STDIN`).writable();
  await new Promise<void>((done, fail) => {
    stream.on('error', fail);
    stream.on('finish', done);
    stream.end(text);
  });
}

interface PartitionDefinition {
  name: string;
  bound: string;
  comment: string | null;
}

async function partitions(sql: postgres.Sql): Promise<PartitionDefinition[]> {
  return sql<PartitionDefinition[]>`
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`;
}

/** The family as status sees it: each partition's name and whether pgparts owns it. */
async function owned(db: typeof source.db, schema = 'public'): Promise<Record<string, boolean>> {
  const spec = family(undefined, schema);
  const report = status([spec], await inspect(db, [spec]));
  const table = report.families[0]?.tables[0];
  return Object.fromEntries((table?.partitions ?? []).map((p) => [p.name, p.managed]));
}

describe('ownership records after a dump restored into another database', () => {
  it('still prove which partitions pgparts made, and retention goes on', async () => {
    await source.sql.unsafe(events());
    const made = await apply(source.db, { families: [family()] });
    expect(made.failed).toBe(0);
    const before = await owned(source.db);
    expect(Object.keys(before)).toHaveLength(10); // DEFAULT, 6 months back, this one, 2 ahead
    expect(Object.values(before).every(Boolean)).toBe(true);

    // "pg_dump": the definitions, then the bookkeeping rows as COPY text, search_path empty.
    const definitions = await partitions(source.sql);
    const dumper = source.connect({ max: 1, connection: { search_path: '' } });
    const ownedRows = await copyOut(dumper, `public.${OWNED_TABLES}`);
    const adoptedRows = await copyOut(dumper, `public.${OWNERSHIP_ADOPTED}`);
    const [sourceOids] = await source.sql<{ oids: string[] }[]>`
      SELECT array_agg(relid::oid::text) AS oids FROM pgparts_owned_tables`;

    // "restore": the tables made again in the target (other oids), then the rows copied in.
    await target.sql.unsafe(events());
    for (const p of definitions) {
      await target.sql.unsafe(`CREATE TABLE "${p.name}" PARTITION OF events ${p.bound}`);
      if (p.comment !== null) {
        await target.sql.unsafe(`COMMENT ON TABLE "${p.name}" IS '${p.comment}'`);
      }
    }
    for (const statement of ownershipSetupSql('public')) await target.sql.unsafe(statement);
    const restorer = target.connect({ max: 1, connection: { search_path: '' } });
    await copyIn(restorer, `public.${OWNED_TABLES}`, ownedRows);
    await copyIn(restorer, `public.${OWNERSHIP_ADOPTED}`, adoptedRows);

    const [targetOids] = await target.sql<{ oids: string[] }[]>`
      SELECT array_agg(c.oid::text) AS oids FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = 'events'::regclass`;
    // Every table got another oid in the target: the old numbers match none of them.
    expect(targetOids?.oids.filter((o) => sourceOids?.oids.includes(o))).toEqual([]);

    expect(await owned(target.db)).toEqual(before);

    // Retention of the restored database removes the months past keep 4, as pgparts's own.
    const kept = await apply(target.db, { families: [family(4)], allowDestructive: true });
    expect(kept.failed).toBe(0);
    const retired = kept.results.filter((r) => r.step.kind === 'retire' && r.outcome === 'done');
    expect(retired).toHaveLength(2);
    const after = await owned(target.db);
    expect(Object.keys(after)).toHaveLength(8);
    expect(Object.values(after).every(Boolean)).toBe(true);
  });

  it('an install whose records are keyed by oid (an earlier release) is turned to regclass, rows kept', async () => {
    const db = source;
    const old = family(undefined, 'earlier');
    const table = `earlier.${OWNED_TABLES}`;
    await db.sql.unsafe('CREATE SCHEMA earlier');
    await db.sql.unsafe(events('earlier'));
    expect((await apply(db.db, { families: [old] })).failed).toBe(0);
    // What an earlier release made: the same table with an oid key.
    await db.sql.unsafe(`ALTER TABLE ${table} ALTER COLUMN relid TYPE oid`);
    const rows = async () =>
      db.sql.unsafe<{ relid: string; name: string }[]>(
        `SELECT relid::oid::text AS relid, name FROM ${table} ORDER BY name`,
      );
    const recorded = [...(await rows())];
    expect(recorded).toHaveLength(10);
    expect(Object.values(await owned(db.db, 'earlier')).every(Boolean)).toBe(true);

    // The next run that changes something (a month later: one partition to make).
    const later = new Date(Date.now() + 31 * 86_400_000);
    const run = await apply(db.db, { families: [old], now: later });
    expect(run.failed).toBe(0);
    expect(run.results.some((r) => r.step.kind === 'create' && r.outcome === 'done')).toBe(true);
    const [column] = await db.sql<{ type: string }[]>`
      SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute
      WHERE attrelid = ${table}::regclass AND attname = 'relid'`;
    expect(column?.type).toBe('regclass');
    const now = [...(await rows())];
    expect(
      now.filter((r) => recorded.some((o) => o.relid === r.relid && o.name === r.name)),
    ).toEqual(recorded);
    expect(now.length).toBeGreaterThan(recorded.length);
  });
});
