import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgparts as runPgparts } from '../cli/run-cli.js';
import { buildLegacyKillmails } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/** Runs the pgparts command against this file's database, in-process; never throws. */
function pgparts(...args: string[]) {
  return runPgparts(undefined, '--database-url', t.url, ...args);
}

const root = resolve(import.meta.dirname, '..', '..');
/** An app's config exporting its own family and, in `conversions`, its conversion target. */
const appDir = (() => {
  const scratch = join(root, '.pgparts', 'tmp');
  mkdirSync(scratch, { recursive: true });
  return mkdtempSync(join(scratch, 'convert-config-'));
})();
const appConfig = join(appDir, 'pgparts.config.ts');

beforeAll(async () => {
  await buildLegacyKillmails(t.sql, { killmails: 400, months: 2 });
  await t.sql.unsafe(`
    CREATE TABLE notes (id bigint NOT NULL, tenant int NOT NULL, body text, PRIMARY KEY (id, tenant));
    INSERT INTO notes SELECT g, 1 + g % 2, 'x' FROM generate_series(1, 50) g;`);
  writeFileSync(
    appConfig,
    `import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';
import { partitionFamily } from ${JSON.stringify(join(root, 'src', 'define', 'spec.ts'))};
import { conversionTarget } from ${JSON.stringify(join(root, 'src', 'ops', 'convert', 'target.ts'))};
const notes = pgTable('notes', {
  id: bigint('id', { mode: 'number' }).notNull(),
  tenant: integer('tenant').notNull(),
  body: text('body'),
}, (x) => [primaryKey({ columns: [x.id, x.tenant] })]);
const family = partitionFamily({ name: 'notes', tables: [notes],
  partitionBy: { strategy: 'list', column: 'tenant', values: [1, 2] } });
export const families = [family];
export const conversions = [conversionTarget({ family, tables: [notes] })];
`,
  );
});

afterAll(() => rmSync(appDir, { recursive: true, force: true }));

describe('pgparts convert', () => {
  it('refuses an unknown family or step, saying which exist', async () => {
    const family = await pgparts('convert', 'nope', 'prep');
    expect(family.code).toBe(1);
    expect(family.stderr).toContain('no family "nope" to convert; known: leaderboard, killmails');
    const step = await pgparts('convert', 'killmails', 'shuffle');
    expect(step.code).toBe(1);
    expect(step.stderr).toContain('unknown step "shuffle"');
  });

  it('converts a family the config exports in conversions, and names it among those known', async () => {
    const dry = await pgparts('--config', appConfig, 'convert', 'notes', 'prep', '--dry-run');
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('CREATE TABLE "pgparts_notes_new"."notes"');
    const unknown = await pgparts('--config', appConfig, 'convert', 'nope', 'prep');
    expect(unknown.stderr).toContain('known: notes, leaderboard, killmails');
  });

  it('--all runs prep, backfill, fill, swap and verify, and stops short of cleanup', async () => {
    const all = await pgparts('convert', 'killmails', '--all', '--batch-size', '150');
    expect(all.stderr).not.toMatch(/error/i);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(
      /prep killmails: \d+ partitions created; backfill needed for killmails_enriched, killmail_participants/,
    );
    expect(all.stdout).toMatch(/swap killmails: tables locked for [\d.]+ ms/);
    expect(all.stdout).toContain('verify killmails: OK');
    const [kind] =
      await t.sql`SELECT relkind FROM pg_class WHERE oid = 'public.killmails_raw'::regclass`;
    expect(kind?.relkind).toBe('p');
    const [old] = await t.sql`SELECT count(*)::int AS n FROM pgparts_killmails_old.killmails_raw`;
    expect(old?.n).toBe(400);
  });

  it('cleanup --dry-run prints its DROPs and drops nothing', async () => {
    const dry = await pgparts('convert', 'killmails', 'cleanup', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(
      'DROP TABLE IF EXISTS "pgparts_killmails_old"."killmail_participants";',
    );
    expect(dry.stdout).not.toContain('CASCADE');
    const [old] = await t.sql`SELECT count(*)::int AS n FROM pgparts_killmails_old.killmails_raw`;
    expect(old?.n).toBe(400);
  });

  it('cleanup shows its DROPs and asks first: with no terminal to ask on it drops nothing, with --yes it drops', async () => {
    const asked = await pgparts('convert', 'killmails', 'cleanup');
    expect(asked.code).toBe(1);
    expect(asked.stdout).toContain('would cleanup the killmails conversion, in this order');
    expect(asked.stdout).toContain(
      'DROP TABLE IF EXISTS "pgparts_killmails_old"."killmail_participants";',
    );
    expect(asked.stderr).toContain('pgparts: not confirmed; pass --yes to cleanup without asking');
    const [kept] = await t.sql`SELECT count(*)::int AS n FROM pgparts_killmails_old.killmails_raw`;
    expect(kept?.n).toBe(400);
    const done = await pgparts('convert', 'killmails', 'cleanup', '--yes');
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toContain('cleanup killmails: dropped');
    const [gone] =
      await t.sql`SELECT to_regclass('pgparts_killmails_old.killmails_raw')::text AS t`;
    expect(gone?.t).toBeNull();
  });
});
