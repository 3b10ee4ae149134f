import { drizzle } from 'drizzle-orm/postgres-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { isPgpartsError } from '../../src/errors.js';
import {
  buildIndexOnline,
  formatIndexBuildPlan,
  type IndexBuildEvent,
  type OnlineIndexSpecInput,
  parseOnlineIndexSpec,
  planIndexReplacement,
} from '../../src/ops/online-index.js';
import type { IndexBuildSnapshot } from '../../src/ops/online-index-plan.js';
import { indexMarker } from '../../src/ops/online-index-sql.js';
import { expectPgpartsError, thrown } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';
import {
  indexStates,
  partitionIndexFacts,
  startLockWaitSampler,
  startWriter,
} from './online-index-support.js';

/**
 * An index whose definition changed, replaced online: built beside the old one under another
 * name, swapped in by one short transaction once complete; the old one serves (and a UNIQUE one
 * checks) until then, and stays when the build fails.
 */
const t = useTestDatabase({ migrated: false });
const LOCK_TIMEOUT_MS = 500;
const ROWS = 40_000;

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE TABLE events (
      tenant_id int NOT NULL, id bigint NOT NULL, kind text, payload text
    ) PARTITION BY LIST (tenant_id);
    CREATE TABLE events_1 PARTITION OF events FOR VALUES IN (1);
    CREATE TABLE events_2 PARTITION OF events FOR VALUES IN (2);
    CREATE TABLE events_3 PARTITION OF events FOR VALUES IN (3);
    CREATE TABLE events_default PARTITION OF events DEFAULT;
    INSERT INTO events SELECT g % 5 + 1, g, 'kind_' || (g % 97), md5(g::text)
      FROM generate_series(1, ${ROWS}) g;
    -- As drizzle-kit's first migration made it: a plain CREATE INDEX on the parent, its
    -- partitions' indexes named by PostgreSQL.
    CREATE INDEX events_kind_idx ON events (kind);
    CREATE INDEX events_ref_idx ON events (id);
  `);
});

const kindAndId: OnlineIndexSpecInput = {
  table: 'events',
  name: 'events_kind_idx',
  columns: ['kind', { column: 'id', order: 'desc' }],
};

async function definition(index: string) {
  const [row] = await t.sql<
    { def: string | null; valid: boolean | null; comment: string | null }[]
  >`
    SELECT pg_get_indexdef(c.oid) AS def, x.indisvalid AS valid,
           obj_description(c.oid, 'pg_class') AS comment
    FROM pg_class c JOIN pg_index x ON x.indexrelid = c.oid
    WHERE c.relname = ${index} AND c.relnamespace = 'public'::regnamespace`;
  return row ?? null;
}

async function indexesNamed(pattern: string) {
  const rows = await t.sql<{ name: string }[]>`
    SELECT relname AS name FROM pg_class WHERE relkind IN ('i', 'I') AND relname LIKE ${pattern}
    ORDER BY 1`;
  return rows.map((r) => r.name);
}

describe('planIndexReplacement (pure)', () => {
  const partitions = ['events_1', 'events_default'];
  const indexFacts = (name: string, attached: boolean) =>
    partitionIndexFacts(name, { attached, attachedElsewhere: !attached });
  const parent = (name: string, comment: string | null) => ({
    ...indexFacts(name, false),
    relkind: 'I',
    onTable: true,
    comment,
  });
  const snapshot = (
    parentIndex: IndexBuildSnapshot['parentIndex'],
    partitionIndexes: (p: string) => ReturnType<typeof indexFacts>[],
  ): IndexBuildSnapshot => ({
    table: { partitioned: true, partitionKey: ['tenant_id'] },
    parentIndex,
    partitions: partitions.map((name) => ({
      schema: 'public',
      name,
      relkind: 'r',
      isDefault: name.endsWith('default'),
      indexes: partitionIndexes(name),
    })),
  });
  const spec = parseOnlineIndexSpec({ ...kindAndId, columns: ['kind'] });
  const marker = indexMarker(spec);
  const old = snapshot(parent('events_kind_idx', null), (p) => [indexFacts(`${p}_kind_idx`, true)]);
  const none = snapshot(undefined, () => []);

  it('builds beside the old index under the replacement name, marked, and shows the swap for later', () => {
    const plan = planIndexReplacement(spec, { existing: old, replacement: none });
    expect(plan.replacement?.temporary).toBe('events_kind_idx_pgparts_new');
    expect(plan.statements.map((s) => s.sql)).toEqual([
      `SET lock_timeout = '${LOCK_TIMEOUT_MS}ms'`,
      `BEGIN; CREATE INDEX IF NOT EXISTS "events_kind_idx_pgparts_new" ON ONLY "public"."events" ("kind"); COMMENT ON INDEX "public"."events_kind_idx_pgparts_new" IS '${marker}'; COMMIT`,
      "SET lock_timeout = '60000ms'",
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_1_kind_idx_pgparts_new" ON "public"."events_1" ("kind")',
      'CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_default_kind_idx_pgparts_new" ON "public"."events_default" ("kind")',
      `SET lock_timeout = '${LOCK_TIMEOUT_MS}ms'`,
      'ALTER INDEX "public"."events_kind_idx_pgparts_new" ATTACH PARTITION "public"."events_1_kind_idx_pgparts_new"',
      'ALTER INDEX "public"."events_kind_idx_pgparts_new" ATTACH PARTITION "public"."events_default_kind_idx_pgparts_new"',
      'RESET lock_timeout',
    ]);
    // The old partition indexes hold the names the new ones take: freed by the DROP before.
    expect(plan.replacement?.swap.together).toEqual([
      'DROP INDEX IF EXISTS "public"."events_kind_idx"',
      'ALTER INDEX "public"."events_kind_idx_pgparts_new" RENAME TO "events_kind_idx"',
      'ALTER INDEX "public"."events_1_kind_idx_pgparts_new" RENAME TO "events_1_kind_idx"',
      'ALTER INDEX "public"."events_default_kind_idx_pgparts_new" RENAME TO "events_default_kind_idx"',
    ]);
    expect(plan.complete).toBe(false);
    const printed = formatIndexBuildPlan(plan);
    expect(printed).toContain(
      'it replaces public.events_kind_idx, which stays in use until the swap',
    );
    expect(printed).toContain(
      `-- then, once the new index is complete (partitions listed again), under lock_timeout ${LOCK_TIMEOUT_MS} ms:\nBEGIN; DROP INDEX IF EXISTS "public"."events_kind_idx"; ALTER INDEX`,
    );
  });

  it("runs the swap once the replacement is complete; then the index is the spec's", () => {
    const built = snapshot(parent('events_kind_idx_pgparts_new', marker), (p) => [
      indexFacts(`${p}_kind_idx`, false),
      indexFacts(`${p}_kind_idx_pgparts_new`, true),
    ]);
    const plan = planIndexReplacement(spec, { existing: old, replacement: built });
    expect(plan.statements.map((s) => s.kind)).toEqual([
      'set-lock-timeout',
      'replace-index',
      'reset-lock-timeout',
    ]);
    expect(plan.statements[1]?.sql).toMatch(
      /^BEGIN; DROP INDEX IF EXISTS "public"\."events_kind_idx"; .*; COMMIT$/,
    );
    // Swapped: the index of the name carries the marker; nothing left.
    const swapped = snapshot(parent('events_kind_idx', marker), (p) => [
      indexFacts(`${p}_kind_idx`, true),
    ]);
    const done = planIndexReplacement(spec, { existing: swapped, replacement: none });
    expect(done).toMatchObject({ complete: true, statements: [] });
    // Nothing to replace: built under its own name, marked from its CREATE.
    const fresh = planIndexReplacement(spec, { existing: none, replacement: none });
    expect(fresh.replacement).toBeUndefined();
    expect(fresh.statements[1]?.together).toEqual([
      'CREATE INDEX IF NOT EXISTS "events_kind_idx" ON ONLY "public"."events" ("kind")',
      `COMMENT ON INDEX "public"."events_kind_idx" IS '${marker}'`,
    ]);
  });

  it("refuses a replacement name held by another definition's build, and a partition index name held by an index of its own", () => {
    const other = snapshot(parent('events_kind_idx_pgparts_new', 'pgparts:index 0000'), () => []);
    expectPgpartsError(
      thrown(() => planIndexReplacement(spec, { existing: old, replacement: other })),
      'refused',
      { message: /events_kind_idx_pgparts_new exists but was not built for this definition/ },
    );
    const taken = snapshot(undefined, (p) => [indexFacts(`${p}_kind_idx`, false)]);
    const oldElsewhere = snapshot(parent('events_kind_idx', null), (p) => [
      indexFacts(`${p}_kind_idx`, false),
    ]);
    expectPgpartsError(
      thrown(() => planIndexReplacement(spec, { existing: oldElsewhere, replacement: taken })),
      'refused',
      {
        message:
          /index public\.events_1_kind_idx on partition events_1 is not part of public\.events_kind_idx/,
      },
    );
  });
});

describe('replacing an index online', () => {
  it('keeps the old index in use until the new one is complete, writers never waiting past lock_timeout; a second run does nothing', async () => {
    const before = await definition('events_kind_idx');
    expect(before?.def).toBe(
      'CREATE INDEX events_kind_idx ON ONLY public.events USING btree (kind)',
    );
    const writers = [await startWriter(t, 1), await startWriter(t, 2)];
    const sampler = startLockWaitSampler(
      t,
      writers.map((w) => w.pid),
    );
    const seenDuringBuild: (Awaited<ReturnType<typeof definition>> | null)[] = [];
    const events: IndexBuildEvent[] = [];
    let result: Awaited<ReturnType<typeof buildIndexOnline>>;
    try {
      result = await buildIndexOnline(drizzle(t.connect({ max: 1 })), kindAndId, {
        replace: true,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        onProgress: async (event) => {
          events.push(event);
          if (event.kind === 'statement' && event.statement === 'create-partition-index') {
            seenDuringBuild.push(await definition('events_kind_idx'));
          }
        },
      });
    } finally {
      await sampler.stop();
      for (const writer of writers) await writer.stop();
    }
    for (const writer of writers) expect(writer.errors).toEqual([]);
    expect(sampler.samples).toBeGreaterThan(5);
    expect(sampler.longestWaitMs).toBeLessThan(LOCK_TIMEOUT_MS);

    // While each partition's new index was built, the old one was there, valid, as it was.
    expect(seenDuringBuild).toHaveLength(4);
    for (const seen of seenDuringBuild) expect(seen).toEqual(before);

    // One swap, after every build and attach; the index now has the new definition and marker.
    const kinds = result.statements.map((s) => s.split(' ').slice(0, 2).join(' '));
    expect(kinds.filter((k) => k === 'BEGIN; DROP')).toHaveLength(1);
    expect(result.statements.at(-2)).toMatch(
      /^BEGIN; DROP INDEX IF EXISTS "public"\."events_kind_idx"/,
    );
    const after = await definition('events_kind_idx');
    expect(after).toEqual({
      def: 'CREATE INDEX events_kind_idx ON ONLY public.events USING btree (kind, id DESC)',
      valid: true,
      comment: indexMarker(parseOnlineIndexSpec(kindAndId)),
    });
    // Every partition has it, attached and valid, under the name a build of its own gives it
    // (PostgreSQL gave the old ones the same names); the old ones went with the old index.
    const states = await indexStates(t.sql, 'events', 'events_kind_idx');
    expect(states.partitions).toEqual(
      ['events_1', 'events_2', 'events_3', 'events_default'].map((p) => ({
        partition: p,
        index: `${p}_kind_idx`,
        attached: true,
        valid: true,
        indoption: '0 3',
      })),
    );
    expect(await indexesNamed('%pgparts_new%')).toEqual([]);
    const [onOne] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_index WHERE indrelid = 'events_1'::regclass`;
    expect(onOne?.n).toBe(2);
    // The other index is untouched.
    expect((await definition('events_ref_idx'))?.valid).toBe(true);

    const again = await buildIndexOnline(drizzle(t.connect({ max: 1 })), kindAndId, {
      replace: true,
    });
    expect(again.statements).toEqual([]);
    expect(again.plan.complete).toBe(true);
  });

  it('a UNIQUE replacement that meets duplicates fails, the old index still in place; fixed and run again, it resumes', async () => {
    await t.sql`INSERT INTO events VALUES (2, 6, 'dup', 'a copy of id 6 in tenant 2')`;
    const unique: OnlineIndexSpecInput = {
      table: 'events',
      name: 'events_ref_idx',
      columns: ['tenant_id', 'id'],
      unique: true,
    };
    const before = await definition('events_ref_idx');
    const db = drizzle(t.connect({ max: 1 }));
    const error = await buildIndexOnline(db, unique, { replace: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPgpartsError(error, 'query-failed')).toBe(true);
    expect((error as Error).message).toMatch(
      /on partition public\.events_2: create-partition-index failed: .*duplicate.*; until the replacement is swapped in, events_ref_idx stays as it was, in use/,
    );
    expect(await definition('events_ref_idx')).toEqual(before);
    const [rows] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM events`;
    expect(rows?.n).toBeGreaterThan(ROWS);

    // The duplicate removed, the same replacement resumes: the INVALID index it left is built again.
    await t.sql`DELETE FROM events WHERE tenant_id = 2 AND id = 6 AND kind = 'dup'`;
    const resumed = await buildIndexOnline(db, unique, { replace: true });
    expect(resumed.statements.some((s) => s.startsWith('DROP INDEX CONCURRENTLY IF EXISTS'))).toBe(
      true,
    );
    expect((await definition('events_ref_idx'))?.def).toBe(
      'CREATE UNIQUE INDEX events_ref_idx ON ONLY public.events USING btree (tenant_id, id)',
    );
    await expect(t.sql`INSERT INTO events VALUES (3, 7, 'dup', 'x')`).rejects.toThrow(
      /duplicate key value violates unique constraint "events_3_ref_idx"/,
    );
    expect(await indexesNamed('%pgparts_new%')).toEqual([]);
  });

  it('refuses, before building anything, an index a constraint uses (a foreign key into the table)', async () => {
    // events_ref_idx is UNIQUE (tenant_id, id) since the test above: a key can reference it.
    await t.sql.unsafe(`
      CREATE TABLE event_refs (tenant_id int NOT NULL, event_id bigint NOT NULL,
        FOREIGN KEY (tenant_id, event_id) REFERENCES events (tenant_id, id));`);
    const before = await definition('events_ref_idx');
    const error = await buildIndexOnline(
      drizzle(t.connect({ max: 1 })),
      {
        table: 'events',
        name: 'events_ref_idx',
        columns: ['tenant_id', 'id', 'kind'],
        unique: true,
      },
      { replace: true },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isPgpartsError(error, 'refused')).toBe(true);
    expect((error as Error).message).toMatch(
      /events_ref_idx cannot be replaced: event_refs_tenant_id_event_id_fkey on event_refs uses it.*nothing was built/,
    );
    expect(await definition('events_ref_idx')).toEqual(before);
    expect(await indexesNamed('%pgparts_new%')).toEqual([]);
  });
});
