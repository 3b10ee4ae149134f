import { beforeAll, describe, expect, it } from 'vitest';
import { formatPlan } from '../../src/cli/format.js';
import { parseFamily } from '../../src/define/spec.js';
import { drainDryRun, drainKey } from '../../src/ops/drain/drain.js';
import { retireDryRun, retireKey, retirePreviewSql } from '../../src/ops/retention.js';
import { apply } from '../../src/run/apply.js';
import { planStatements } from '../../src/run/step-statements.js';
import { quoteIdent, quoteQualified } from '../../src/sql/identifiers.js';
import { recordingDatabase } from '../support/recording.js';
import { tableDigest } from '../support/table-checksum.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/**
 * `apply --dry-run` prints what `apply` then runs: on a database where a month landed in
 * DEFAULT (a drain) and an old month is past retention (a retire), every statement the real
 * run sends that changes something is one the dry run printed, in the same order; those whose
 * text depends on what the copy finds are matched against the printed template. Names that
 * need quoting throughout, a foreign key between the tables (the swap drops and re-adds it) and
 * one to a table outside the family (the swap validates it on the copies, beside its trigger).
 */
const SCHEMA = 'Dry Run';
const family = parseFamily({
  name: 'DryEvents',
  schema: SCHEMA,
  tables: ['Events', 'EventNotes'],
  partitionBy: { strategy: 'range', column: 'occurredAt', interval: 'month', premake: 1, past: 1 },
  defaultPartition: true,
  retention: { keep: 2, mode: 'archive', archiveSchema: 'Dry Archive' },
});
const EVENTS = quoteQualified(SCHEMA, 'Events');
const NOTES = quoteQualified(SCHEMA, 'EventNotes');
/** Outside the family: a swap keeps the staged copies free of rows the app deletes meanwhile. */
const SOURCES = quoteQualified(SCHEMA, 'Sources');
const setupNow = new Date('2026-01-15T12:00:00Z');
const runNow = new Date('2026-04-15T12:00:00Z');
const FROM_FEBRUARY = `"occurredAt" >= '2026-02-01'`;

/**
 * Statements that change something. pgparts's records of its runs and operations, and the
 * creation (IF NOT EXISTS) of its bookkeeping tables (ownership record, retired keys), which
 * every operation makes sure of before its first change, are bookkeeping beside the steps, not
 * part of them.
 */
const CHANGE =
  /^\s*(CREATE|ALTER|DROP|COMMENT\s+ON|TRUNCATE|INSERT|UPDATE|DELETE|LOCK|ANALYZE|WITH\s+\w+\s+AS\s+\(\s*(INSERT|DELETE))\b/i;
const BOOKKEEPING =
  /pgparts_operations|pgparts_maintenance_runs|^CREATE TABLE IF NOT EXISTS [^(]+\."pgparts_(owned_tables|ownership_adopted|retired_keys)"/;

/** A printed statement as a matcher: exact text, or a template's body with «...» as numbers. */
function matcher(printed: string): { template: boolean; test: (sent: string) => boolean } {
  if (!printed.startsWith('-- ')) return { template: false, test: (sent) => sent === printed };
  const body = printed.slice(printed.indexOf('\n') + 1);
  const pattern = new RegExp(
    `^${body
      .split(/«[^»]*»/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('\\d+')}$`,
  );
  return { template: true, test: (sent) => pattern.test(sent) };
}

/**
 * Checks that every statement `sent` that changes something was printed in `listed` (exactly or
 * by its template), never earlier in the list than the one before it, and that every exact
 * printed statement was sent. Returns the statements compared.
 */
function expectSentAsPrinted(listed: string[], all: string[]): string[] {
  const matchers = listed.map(matcher);
  const sent = all.filter((s) => CHANGE.test(s) && !BOOKKEEPING.test(s));
  let at = 0;
  const unprinted: string[] = [];
  for (const statement of sent) {
    const found = matchers.findIndex((m, i) => i >= at && m.test(statement));
    if (found < 0) {
      // A template may repeat (a second batch, a second replay round): look back for it.
      if (!matchers.some((m) => m.template && m.test(statement))) unprinted.push(statement);
      continue;
    }
    at = matchers[found]?.template ? found : found + 1;
  }
  expect(unprinted).toEqual([]);
  const exact = listed.filter((s, i) => !matchers[i]?.template && CHANGE.test(s));
  expect(exact.filter((s) => !sent.includes(s))).toEqual([]);
  return sent;
}

beforeAll(async () => {
  await t.sql.unsafe(`
    CREATE SCHEMA ${quoteIdent(SCHEMA)};
    CREATE TABLE ${SOURCES} (id bigint PRIMARY KEY);
    INSERT INTO ${SOURCES} VALUES (1), (2);
    CREATE TABLE ${EVENTS} (id bigint NOT NULL, "occurredAt" timestamptz NOT NULL, "Body" text,
      "SourceId" bigint NOT NULL DEFAULT 1 CONSTRAINT "Events_Source_FK" REFERENCES ${SOURCES},
      PRIMARY KEY (id, "occurredAt")) PARTITION BY RANGE ("occurredAt");
    CREATE TABLE ${NOTES} (id bigint NOT NULL, "occurredAt" timestamptz NOT NULL, "Note" text NOT NULL,
      PRIMARY KEY (id, "occurredAt", "Note"),
      CONSTRAINT "EventNotes_Event_FK" FOREIGN KEY (id, "occurredAt") REFERENCES ${EVENTS} (id, "occurredAt")
        ON DELETE CASCADE) PARTITION BY RANGE ("occurredAt");`);
  // December to February and DEFAULT; then rows in January (to retire) and in March (DEFAULT).
  const setup = await apply(t.db, { families: [family], now: setupNow });
  expect(setup.failed).toBe(0);
  await t.sql.unsafe(`
    INSERT INTO ${EVENTS} SELECT g, timestamptz '2026-01-03' + g * interval '1 minute', 'jan' FROM generate_series(1, 300) g;
    INSERT INTO ${EVENTS} SELECT g, timestamptz '2026-03-03' + g * interval '1 minute', 'mar' FROM generate_series(1, 400) g;
    INSERT INTO ${NOTES} SELECT id, "occurredAt", 'n' || k FROM ${EVENTS}, generate_series(1, 2) k;`);
});

describe('apply --dry-run prints every statement apply then runs', () => {
  it('a drain (swap) and an archiving retire: the run sends only printed statements, in order', async () => {
    const dry = await planStatements(t.db, [family], { now: runNow });
    const kinds = dry.steps.map((s) => `${s.kind} ${s.label}`);
    expect(kinds).toContain('drain 2026-03-01..2026-04-01');
    expect(kinds).toContain('retire 2026-01-01..2026-02-01');
    const printed = formatPlan(dry, 'dry run').join('\n');
    expect(printed).not.toMatch(/chooses its statements at run time|would refuse/);
    const drain = dry.steps.find((s) => s.kind === 'drain');
    // The copy batch is a template and says so.
    expect(drain?.sql.some((s) => s.startsWith('-- copy batch: one per 512 pages'))).toBe(true);

    const digests = async () => ({
      kept: await tableDigest(t.sql, `${SCHEMA}.Events`, ['id', 'occurredAt'], FROM_FEBRUARY),
      keptNotes: await tableDigest(
        t.sql,
        `${SCHEMA}.EventNotes`,
        ['id', 'occurredAt', 'Note'],
        FROM_FEBRUARY,
      ),
    });
    const before = await digests();
    const january = await tableDigest(
      t.sql,
      `${SCHEMA}.Events`,
      ['id', 'occurredAt'],
      `NOT (${FROM_FEBRUARY})`,
    );
    expect(january.rows).toBe(300);
    const rec = recordingDatabase(t);
    const result = await apply(rec.db, { families: [family], now: runNow, allowDestructive: true });
    await rec.close();
    expect(result.failed).toBe(0);
    expect(result.plan?.steps.map((s) => s.id)).toEqual(dry.steps.map((s) => s.id));
    // The run's own plan carries the same statements the dry run printed.
    expect(result.plan?.steps.map((s) => s.sql)).toEqual(dry.steps.map((s) => s.sql));

    // A create next to a DEFAULT that holds rows prints its own transactions first (prepare).
    const sent = expectSentAsPrinted(
      dry.steps.flatMap((s) => [...(s.prepare ?? []), ...s.sql]),
      rec.statements,
    );
    expect(
      sent.some((s) => s.includes('VALIDATE CONSTRAINT "pgparts_default_excludes_new_key"')),
    ).toBe(true);
    expect(sent.length).toBeGreaterThan(20);
    // The run copied in batches (templates), took March out of DEFAULT, and detached January:
    // by swapping DEFAULT on PostgreSQL 18, by deleting from it before (the family's foreign
    // key needs 18 to be added back NOT VALID).
    expect(sent.some((s) => s.startsWith('INSERT INTO "Dry Run"."Events_2026_03" ('))).toBe(true);
    const [version] = await t.sql<{ v: number }[]>`
      SELECT current_setting('server_version_num')::int AS v`;
    if ((version?.v ?? 0) >= 180000) {
      expect(sent).toContain(
        'ALTER TABLE "Dry Run"."Events" DETACH PARTITION "Dry Run"."Events_default"',
      );
      expect(
        sent.some((s) =>
          s.startsWith(
            'CREATE OR REPLACE TRIGGER "pgparts_remove_copies" AFTER UPDATE OR DELETE ON "Dry Run"."Events_default"',
          ),
        ),
      ).toBe(true);
      expect(sent.some((s) => s.includes(`'removed from "Dry Run"."Events_2026_03"'`))).toBe(true);
    } else {
      expect(
        sent.some((s) => s.startsWith('WITH gone AS (DELETE FROM "Dry Run"."Events_default"')),
      ).toBe(true);
    }
    expect(sent).toContain(
      'ALTER TABLE "Dry Run"."EventNotes" DETACH PARTITION "Dry Run"."EventNotes_2026_01"',
    );

    // The run did what it printed: March has its partitions, January is archived, no row lost.
    expect(await digests()).toEqual(before);
    expect(await tableDigest(t.sql, 'Dry Archive.Events_2026_01', ['id', 'occurredAt'])).toEqual(
      january,
    );
    const [march] = await t.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM ${t.sql(`${SCHEMA}.Events_2026_03`)}`;
    expect(march?.n).toBe(400);
  });

  it('drain --dry-run with the delete strategy and retire --dry-run (drop): the runs send what was printed', async () => {
    // August has no partition (premake 1 from April): its rows land in DEFAULT.
    await t.sql.unsafe(`
      INSERT INTO ${EVENTS} SELECT 1000 + g, timestamptz '2026-08-03' + g * interval '1 minute', 'aug' FROM generate_series(1, 200) g;
      INSERT INTO ${NOTES} SELECT id, "occurredAt", 'n' FROM ${EVENTS} WHERE "occurredAt" >= '2026-08-01';`);
    const august = {
      kind: 'range',
      from: new Date('2026-08-01T00:00:00Z'),
      to: new Date('2026-09-01T00:00:00Z'),
    } as const;
    const drainDry = await drainDryRun(t.db, family, august, { strategy: 'delete' });
    expect(drainDry.preview.strategy).toBe('delete');
    const before = await tableDigest(t.sql, `${SCHEMA}.EventNotes`, ['id', 'occurredAt', 'Note']);
    const drained = recordingDatabase(t);
    const result = await drainKey(drained.db, family, august, { strategy: 'delete' });
    await drained.close();
    expect(result).toMatchObject({ status: 'drained', strategy: 'delete', rowsMoved: 400 });
    const sent = expectSentAsPrinted(drainDry.statements, drained.statements);
    expect(
      sent.some((s) => s.startsWith('WITH gone AS (DELETE FROM "Dry Run"."EventNotes_default"')),
    ).toBe(true);
    expect(await tableDigest(t.sql, `${SCHEMA}.EventNotes`, ['id', 'occurredAt', 'Note'])).toEqual(
      before,
    );

    const retireDry = await retireDryRun(t.db, family, august, { mode: 'drop', force: true });
    const printed = retirePreviewSql(retireDry);
    expect(printed).toContain('DROP TABLE "Dry Run"."EventNotes_2026_08"');
    const retired = recordingDatabase(t);
    await retireKey(retired.db, family, august, { mode: 'drop', force: true });
    await retired.close();
    expectSentAsPrinted(printed, retired.statements);
    expect(
      (
        await tableDigest(
          t.sql,
          `${SCHEMA}.Events`,
          ['id', 'occurredAt'],
          `"occurredAt" >= '2026-08-01'`,
        )
      ).rows,
    ).toBe(0);
  });
});
