import { beforeAll, describe, expect, it } from 'vitest';
import { pgparts as runPgparts } from '../cli/run-cli.js';
import { buildLegacyKillmails } from '../support/legacy-fixtures.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase({ migrated: false });

/** Runs the pgparts command against this file's database, in-process; never throws. */
function pgparts(...args: string[]) {
  return runPgparts(undefined, '--database-url', t.url, ...args);
}

beforeAll(async () => {
  await buildLegacyKillmails(t.sql, { killmails: 400, months: 2 });
});

describe('pgparts convert', () => {
  it('refuses an unknown family or step, saying which exist', async () => {
    const family = await pgparts('convert', 'nope', 'prep');
    expect(family.code).toBe(1);
    expect(family.stderr).toContain('no family "nope" to convert; known: leaderboard, killmails');
    const step = await pgparts('convert', 'killmails', 'shuffle');
    expect(step.code).toBe(1);
    expect(step.stderr).toContain('unknown step "shuffle"');
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
});
