import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { reattachKey } from '../../src/ops/reattach.js';
import { retireKey } from '../../src/ops/retention.js';
import { plan } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { identifierProblem, quoteIdent, quoteQualified } from '../../src/sql/identifiers.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A family whose every name needs quoting: a schema with a space, mixed-case tables, a camelCase
 * RANGE key, an upper-case foreign key name (which once aborted a retire after its DETACH ran).
 */
const SCHEMA = 'App Data';
const ARCHIVE = 'Archive "Old"';
const family = parseFamily({
  name: 'AppEvents',
  schema: SCHEMA,
  tables: ['Events', 'EventNotes'],
  partitionBy: { strategy: 'range', column: 'occurredAt', interval: 'month', premake: 1 },
  defaultPartition: true,
  retention: { keep: 2, mode: 'archive', archiveSchema: ARCHIVE },
});
const EVENTS = `${SCHEMA}.Events`;
const NOTES = `${SCHEMA}.EventNotes`;
const january = {
  kind: 'range',
  from: new Date('2026-01-01T00:00:00Z'),
  to: new Date('2026-02-01T00:00:00Z'),
} as const;

async function digests() {
  return {
    events: await tableDigest(t.sql, EVENTS, ['id', 'occurredAt']),
    notes: await tableDigest(t.sql, NOTES, ['id', 'occurredAt', 'Note']),
  };
}

async function partitionsOf(schema: string, parent: string): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = to_regclass(${quoteQualified(schema, parent)}) ORDER BY 1`;
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  const events = quoteQualified(SCHEMA, 'Events');
  await t.sql.unsafe(`
    CREATE SCHEMA ${quoteIdent(SCHEMA)};
    CREATE TABLE ${events} (id bigint NOT NULL, "occurredAt" timestamptz NOT NULL, "Body" text,
      PRIMARY KEY (id, "occurredAt")) PARTITION BY RANGE ("occurredAt");
    CREATE TABLE ${quoteQualified(SCHEMA, 'EventNotes')} (id bigint NOT NULL,
      "occurredAt" timestamptz NOT NULL, "Note" text NOT NULL,
      PRIMARY KEY (id, "occurredAt", "Note"),
      CONSTRAINT "EventNotes_Event_FK" FOREIGN KEY (id, "occurredAt") REFERENCES ${events} (id, "occurredAt")
        ON DELETE CASCADE) PARTITION BY RANGE ("occurredAt");`);
});

describe('a family whose tables, columns and constraints need quoting', () => {
  it('plans and applies: DEFAULT and the monthly partitions, under their exact names', async () => {
    const now = new Date('2026-03-15T00:00:00Z');
    const steps = plan([family], await inspect(t.db, [family]), now).steps;
    expect(steps.length).toBeGreaterThan(0);
    const result = await apply(t.db, { families: [family], now });
    expect(result.ok).toBe(true);
    expect(await partitionsOf(SCHEMA, 'Events')).toEqual([
      'Events_2026_03',
      'Events_2026_04',
      'Events_default',
    ]);
    expect(await partitionsOf(SCHEMA, 'EventNotes')).toEqual([
      'EventNotes_2026_03',
      'EventNotes_2026_04',
      'EventNotes_default',
    ]);
    // A second plan on the result has nothing left to do.
    expect(plan([family], await inspect(t.db, [family]), now).steps).toEqual([]);
  });

  it('drains a month that landed in DEFAULT, keeping every row (counts and checksums)', async () => {
    await t.sql.unsafe(`
      INSERT INTO ${quoteQualified(SCHEMA, 'Events')}
        SELECT i, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour', 'e' || i
        FROM generate_series(0, 24 * 31 + 24 * 14 - 1) i;  -- January into DEFAULT, March into its own
      INSERT INTO ${quoteQualified(SCHEMA, 'Events')}
        SELECT 100000 + i, timestamptz '2026-03-01 00:00:00+00' + i * interval '1 hour', 'm' || i
        FROM generate_series(0, 99) i;
      INSERT INTO ${quoteQualified(SCHEMA, 'EventNotes')}
        SELECT id, "occurredAt", n FROM ${quoteQualified(SCHEMA, 'Events')}, unnest(ARRAY['a', 'B']) n;`);
    const before = await digests();
    expect(before.events.rows).toBe(24 * 45 + 100);

    const result = await drainKey(t.db, family, january);
    expect(result.status).toBe('drained');
    expect(result.tables).toEqual([
      { table: 'Events', partition: 'Events_2026_01', rowsMoved: 24 * 31 },
      { table: 'EventNotes', partition: 'EventNotes_2026_01', rowsMoved: 24 * 31 * 2 },
    ]);
    expect(result.strategy).toBe(result.swap ? 'swap' : 'delete');
    expect(await digests()).toEqual(before);
    // February by the other final phase: rows deleted from DEFAULT under the locks.
    const february = {
      kind: 'range',
      from: new Date('2026-02-01T00:00:00Z'),
      to: new Date('2026-03-01T00:00:00Z'),
    } as const;
    const deleted = await drainKey(t.db, family, february, { strategy: 'delete' });
    expect(deleted.strategy).toBe('delete');
    expect(deleted.rowsMoved).toBe(24 * 14 * 3);
    expect(await digests()).toEqual(before);
    expect(await partitionsOf(SCHEMA, 'Events')).toEqual([
      'Events_2026_01',
      'Events_2026_02',
      'Events_2026_03',
      'Events_2026_04',
      'Events_default',
    ]);
    const [constraint] = await t.sql<{ valid: boolean }[]>`
      SELECT convalidated AS valid FROM pg_constraint
      WHERE conrelid = to_regclass(${quoteQualified(SCHEMA, 'EventNotes')}) AND conname = 'EventNotes_Event_FK'`;
    expect(constraint?.valid).toBe(true);
  });

  it('retires the month into an archive schema and reattaches it, rows unchanged', async () => {
    const before = await digests();
    const january_ = {
      events: await tableDigest(t.sql, `${SCHEMA}.Events_2026_01`, ['id', 'occurredAt']),
      notes: await tableDigest(t.sql, `${SCHEMA}.EventNotes_2026_01`, ['id', 'occurredAt', 'Note']),
    };
    const retired = await retireKey(t.db, family, january, { mode: 'archive' });
    expect(retired.status).toBe('retired');
    expect(retired.partitions.map((p) => [p.partition, p.archivedAs])).toEqual([
      ['EventNotes_2026_01', `${ARCHIVE}.EventNotes_2026_01`],
      ['Events_2026_01', `${ARCHIVE}.Events_2026_01`],
    ]);
    expect({
      events: await tableDigest(t.sql, `${ARCHIVE}.Events_2026_01`, ['id', 'occurredAt']),
      notes: await tableDigest(t.sql, `${ARCHIVE}.EventNotes_2026_01`, [
        'id',
        'occurredAt',
        'Note',
      ]),
    }).toEqual(january_);
    // The archived notes keep their link to the archived events, under the derived name.
    const [link] = await t.sql<{ name: string }[]>`
      SELECT conname AS name FROM pg_constraint
      WHERE conrelid = to_regclass(${quoteQualified(ARCHIVE, 'EventNotes_2026_01')}) AND contype = 'f'`;
    expect(link?.name).toBe('EventNotes_Event_FK_archived');
    expect((await digests()).events.rows).toBe(before.events.rows - january_.events.rows);

    const back = await reattachKey(t.db, family, january);
    expect(back.partitions).toEqual([
      { table: 'Events', partition: 'Events_2026_01', rows: january_.events.rows },
      { table: 'EventNotes', partition: 'EventNotes_2026_01', rows: january_.notes.rows },
    ]);
    expect(await digests()).toEqual(before);
  });

  it('apply runs retention on it: old months archived, the kept ones untouched', async () => {
    const kept = await tableDigest(t.sql, `${SCHEMA}.Events_2026_03`, ['id', 'occurredAt']);
    const result = await apply(t.db, {
      families: [family],
      now: new Date('2026-04-15T00:00:00Z'),
      allowDestructive: true,
    });
    expect(result.ok).toBe(true);
    // keep 2: the two months before April stay; January goes to the archive.
    expect(await partitionsOf(SCHEMA, 'Events')).toEqual([
      'Events_2026_02',
      'Events_2026_03',
      'Events_2026_04',
      'Events_2026_05',
      'Events_default',
    ]);
    const [archived] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${ARCHIVE} AND c.relname IN ('Events_2026_01', 'EventNotes_2026_01')`;
    expect(archived?.n).toBe(2);
    expect(await tableDigest(t.sql, `${SCHEMA}.Events_2026_03`, ['id', 'occurredAt'])).toEqual(
      kept,
    );
  });
});

describe('a DEFAULT partition whose name leaves no room for the swap to derive its own', () => {
  // 60 bytes: `<name>_drained` would be 68, which PostgreSQL would cut.
  const longDefault = `Ledger ${'d'.repeat(53)}`;
  const ledger = parseFamily({
    name: 'Ledger',
    schema: SCHEMA,
    tables: ['Ledger'],
    partitionBy: { strategy: 'range', column: 'bookedAt', interval: 'month', premake: 0 },
    defaultPartition: true,
  });

  it('drains by deleting from DEFAULT instead, every row kept; an explicit swap is refused', async () => {
    await t.sql.unsafe(`
      CREATE TABLE ${quoteQualified(SCHEMA, 'Ledger')} (id bigint NOT NULL,
        "bookedAt" timestamptz NOT NULL, PRIMARY KEY (id, "bookedAt")) PARTITION BY RANGE ("bookedAt");
      CREATE TABLE ${quoteQualified(SCHEMA, longDefault)} PARTITION OF ${quoteQualified(SCHEMA, 'Ledger')} DEFAULT;
      COMMENT ON TABLE ${quoteQualified(SCHEMA, longDefault)} IS 'pgparts:managed';
      INSERT INTO ${quoteQualified(SCHEMA, 'Ledger')}
        SELECT i, timestamptz '2026-01-01 00:00:00+00' + i * interval '1 hour' FROM generate_series(0, 999) i;`);
    const before = await tableDigest(t.sql, `${SCHEMA}.Ledger`, ['id', 'bookedAt']);
    expectPgpartsError(
      await rejection(drainKey(t.db, ledger, january, { strategy: 'swap' })),
      'refused',
      { message: /too long to derive/, step: 'drain' },
    );
    const result = await drainKey(t.db, ledger, january);
    expect(result.strategy).toBe('delete');
    expect(result.rowsMoved).toBe(24 * 31);
    expect(await tableDigest(t.sql, `${SCHEMA}.Ledger`, ['id', 'bookedAt'])).toEqual(before);
    expect(await partitionsOf(SCHEMA, 'Ledger')).toEqual([longDefault, 'Ledger_2026_01']);
  });
});

describe('quoteIdent agrees with the server', () => {
  const names = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 40 })
    .filter((name) => identifierProblem(name) === null);

  it('quote_ident quotes the same way, and the quoted name creates exactly that table', async () => {
    await t.sql`CREATE SCHEMA IF NOT EXISTS quoting`;
    await fc.assert(
      fc.asyncProperty(names, async (name) => {
        const [row] = await t.sql<{ q: string }[]>`SELECT quote_ident(${name}) AS q`;
        const server = row?.q ?? '';
        // The server leaves plain lower-case names bare; ours always carries quotes.
        expect(quoteIdent(name)).toBe(server.startsWith('"') ? server : `"${server}"`);
        const table = quoteQualified('quoting', name);
        await t.sql.unsafe(`CREATE TABLE ${table} (x int)`);
        const [created] = await t.sql<{ name: string }[]>`
          SELECT relname AS name FROM pg_class WHERE oid = to_regclass(${table})`;
        expect(created?.name).toBe(name);
        await t.sql.unsafe(`DROP TABLE ${table}`);
      }),
      { numRuns: 150 },
    );
  });
});
