import { describe, expect, it } from 'vitest';
import { parseFamily } from '../../src/define/spec.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * A family whose tables reference each other with the default actions (NO ACTION), drained by
 * delete with triggers skipped (the test role is a superuser). The app deletes the ordinary way
 * while the drain runs: a doc's tags first, then the doc. The staging tables hold copies of the
 * rows until the last replay, so they must not check the app's deletes against those copies.
 */
const docs = parseFamily({
  name: 'docs',
  schema: 'public',
  tables: ['docs', 'doc_tags'],
  partitionBy: { strategy: 'list', column: 'tenant', values: [1, 8] },
  defaultPartition: true,
});

const digest = async () => ({
  docs: await tableDigest(t.sql, 'docs', ['tenant', 'id']),
  tags: await tableDigest(t.sql, 'doc_tags', ['tenant', 'doc_id', 'tag']),
});

/** Foreign keys on tables of the family that are not (yet) partitions: a drain's staging table. */
const stagedKeys = () => t.sql<{ oid: number; valid: boolean }[]>`
  SELECT k.oid::int AS oid, k.convalidated AS valid FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid
  WHERE k.contype = 'f' AND k.confrelid = 'docs'::regclass AND c.relkind = 'r'
    AND NOT c.relispartition AND c.relname LIKE 'doc\\_tags%'`;

/**
 * Docs and their tags, LIST by tenant, with a partition for tenant 1 and a DEFAULT holding tenant
 * 8: 400 docs of each tenant with two tags each. `onDelete` is the tags' key's action.
 */
async function createDocs(onDelete: 'NO ACTION' | 'CASCADE') {
  await t.sql.unsafe(`
    DROP TABLE IF EXISTS doc_tags, docs;
    CREATE TABLE docs (tenant int NOT NULL, id bigint NOT NULL, title text NOT NULL,
      PRIMARY KEY (tenant, id)) PARTITION BY LIST (tenant);
    CREATE TABLE docs_1 PARTITION OF docs FOR VALUES IN (1);
    CREATE TABLE docs_default PARTITION OF docs DEFAULT;
    CREATE TABLE doc_tags (tenant int NOT NULL, doc_id bigint NOT NULL, tag text NOT NULL,
      PRIMARY KEY (tenant, doc_id, tag),
      FOREIGN KEY (tenant, doc_id) REFERENCES docs (tenant, id) ON DELETE ${onDelete})
      PARTITION BY LIST (tenant);
    CREATE TABLE doc_tags_1 PARTITION OF doc_tags FOR VALUES IN (1);
    CREATE TABLE doc_tags_default PARTITION OF doc_tags DEFAULT;
    INSERT INTO docs SELECT k, g, 'doc ' || g FROM generate_series(1, 400) g, (VALUES (1), (8)) v(k);
    INSERT INTO doc_tags SELECT tenant, id, t FROM docs, (VALUES ('a'), ('b')) v(t);`);
}

describe("an app's deletes during a drain by delete of a family with NO ACTION keys", () => {
  it('each succeeds in every phase, and the drain moves what is left', async () => {
    await createDocs('NO ACTION');
    const failures: string[] = [];
    let deleted = 0;
    /** The key on the staging table of doc_tags once the online phases are done. */
    let staged: { oid: number; valid: boolean }[] = [];
    const deleteOne = async (phase: string) => {
      // Under the drain's locks the app's delete would wait for them: the drain waits for it.
      if (phase === 'locked') return;
      if (phase === 'replayed') staged = await stagedKeys();
      deleted += 1;
      try {
        await t.sql.begin(async (tx) => {
          await tx`DELETE FROM doc_tags WHERE tenant = 8 AND doc_id = ${deleted}`;
          await tx`DELETE FROM docs WHERE tenant = 8 AND id = ${deleted}`;
        });
      } catch (error) {
        failures.push(`${phase}: ${(error as Error).message}`);
      }
    };
    const result = await drainKey(
      t.db,
      docs,
      { kind: 'list', value: 8 },
      { strategy: 'delete', onPhase: deleteOne },
    );
    expect(failures).toEqual([]);
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', skippedTriggers: true });
    // Every phase's delete went through: those docs and their tags are gone, the rest moved.
    const [left] = await t.sql<{ docs: number; tags: number; stray: number }[]>`
      SELECT (SELECT count(*)::int FROM docs WHERE tenant = 8) AS docs,
             (SELECT count(*)::int FROM doc_tags WHERE tenant = 8) AS tags,
             (SELECT count(*)::int FROM docs_default) + (SELECT count(*)::int FROM doc_tags_default) AS stray`;
    expect(left).toEqual({ docs: 400 - deleted, tags: (400 - deleted) * 2, stray: 0 });
    expect(result.rowsMoved).toBe((400 - deleted) * 3);
    // The key the new partition carries is the parent's, validated.
    const [key] = await t.sql<{ partition: string; valid: boolean }[]>`
      SELECT k.conrelid::regclass::text AS partition, k.convalidated AS valid
      FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid
      WHERE i.inhparent = 'doc_tags'::regclass AND k.contype = 'f'
        AND k.conrelid NOT IN ('doc_tags_1'::regclass, 'doc_tags_default'::regclass)`;
    expect(key).toEqual({ partition: expect.stringMatching(/^doc_tags_/), valid: true });
    // Validated online, before the final phase, and adopted by ATTACH as it was: the final lock
    // checked no staged row against docs.
    expect(staged).toHaveLength(1);
    expect(staged[0]?.valid).toBe(true);
    const [adopted] = await t.sql<{ oid: number }[]>`
      SELECT k.oid::int AS oid FROM pg_constraint k JOIN pg_inherits i ON i.inhrelid = k.conrelid
      WHERE i.inhparent = 'doc_tags'::regclass AND k.contype = 'f' AND k.confrelid = 'docs'::regclass
        AND k.conrelid NOT IN ('doc_tags_1'::regclass, 'doc_tags_default'::regclass)`;
    expect(adopted?.oid).toBe(staged[0]?.oid);
    const after = await digest();
    expect(after.docs.rows).toBe(800 - deleted);
    expect(after.tags.rows).toBe((800 - deleted) * 2);
  });

  it('with ON DELETE CASCADE: deleting a doc takes its tags, staged copies included, in every phase', async () => {
    await createDocs('CASCADE');
    const tenant1 = await digest();
    const failures: string[] = [];
    let deleted = 0;
    const result = await drainKey(
      t.db,
      docs,
      { kind: 'list', value: 8 },
      {
        strategy: 'delete',
        onPhase: async (phase) => {
          if (phase === 'locked') return;
          deleted += 1;
          try {
            await t.sql`DELETE FROM docs WHERE tenant = 8 AND id = ${deleted}`;
          } catch (error) {
            failures.push(`${phase}: ${(error as Error).message}`);
          }
        },
      },
    );
    expect(failures).toEqual([]);
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', skippedTriggers: true });
    const [left] = await t.sql<{ docs: number; tags: number; orphans: number; stray: number }[]>`
      SELECT (SELECT count(*)::int FROM docs WHERE tenant = 8) AS docs,
             (SELECT count(*)::int FROM doc_tags WHERE tenant = 8) AS tags,
             (SELECT count(*)::int FROM doc_tags g
               WHERE NOT EXISTS (SELECT 1 FROM docs d WHERE d.tenant = g.tenant AND d.id = g.doc_id)) AS orphans,
             (SELECT count(*)::int FROM docs_default) + (SELECT count(*)::int FROM doc_tags_default) AS stray`;
    expect(left).toEqual({ docs: 400 - deleted, tags: (400 - deleted) * 2, orphans: 0, stray: 0 });
    expect(result.rowsMoved).toBe((400 - deleted) * 3);
    // Tenant 1 (another partition) is untouched: counted and checksummed.
    const [one] = await t.sql<{ docs: number; tags: number }[]>`
      SELECT (SELECT count(*)::int FROM docs_1) AS docs, (SELECT count(*)::int FROM doc_tags_1) AS tags`;
    expect(one).toEqual({ docs: 400, tags: 800 });
    const after = await digest();
    expect(after.docs.rows).toBe(tenant1.docs.rows - deleted);
    expect(after.tags.rows).toBe(tenant1.tags.rows - deleted * 2);
  });
});
