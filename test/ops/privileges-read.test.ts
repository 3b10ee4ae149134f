import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { leaderboardFamily } from '../../src/domains/leaderboard/partitioning.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { prometheusMetrics } from '../../src/metrics/collect.js';
import { drainKey } from '../../src/ops/drain/drain.js';
import { pgparts } from '../cli/run-cli.js';
import { expectPgpartsError, rejection } from '../support/pgparts-error.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const suffix = randomBytes(4).toString('hex');
/** The monitoring role: may connect, and read only what the test grants it. */
const MONITOR = `lpr_monitor_${suffix}`;
const PASSWORD = 'lp-pass';

function urlAs(role: string): string {
  const url = new URL(t.url);
  url.username = role;
  url.password = PASSWORD;
  return url.toString();
}

beforeAll(async () => {
  await t.sql.unsafe(`CREATE ROLE ${MONITOR} LOGIN PASSWORD '${PASSWORD}'`);
  // What privileges.md used to say, given before pgparts made the rest of its tables: SELECT
  // on the family tables; not on their DEFAULT partitions nor on pgparts's own records.
  await t.sql.unsafe(`GRANT SELECT ON leaderboard_run, run_group_member, season TO ${MONITOR}`);
  await t.sql.unsafe(
    `GRANT SELECT ON killmails_raw, killmails_enriched, killmail_participants TO ${MONITOR}`,
  );
});

afterAll(async () => {
  await t.sql.unsafe(`DROP OWNED BY ${MONITOR}`);
  await t.sql.unsafe(`DROP ROLE ${MONITOR}`);
});

describe('least privilege: the read-only commands', () => {
  it('say which table they may not read and the GRANT, not the server line', async () => {
    // Season 14 drained by the maintenance role: pgparts's records exist, and the monitoring
    // role was never granted them.
    await t.sql`INSERT INTO season (id, name) VALUES (14, 'S14')`;
    await drainKey(t.db, leaderboardFamily, { kind: 'list', value: 14 });
    for (const args of [
      ['status'],
      ['status', '--check'],
      ['status', '--format', 'prometheus'],
      ['plan'],
      // The dry runs of a season's drain and retire: the server's bare line, before.
      ['drain', 'leaderboard', '14', '--dry-run'],
      ['retire', 'leaderboard', '14', '--dry-run'],
    ]) {
      const run = await pgparts(urlAs(MONITOR), ...args);
      const said = `${args.join(' ')}: ${run.stderr}`;
      expect(run.code, said).toBe(1);
      expect(run.stderr, said).not.toContain('SQLSTATE');
      expect(run.stderr, said).toMatch(
        /the role cannot read what it reports on \(permission denied for table (\S+)\)/,
      );
      const table = /permission denied for table (\S+)\)/.exec(run.stderr)?.[1];
      expect(run.stderr, said).toContain(`GRANT SELECT ON "public"."${table}" TO "${MONITOR}";`);
      expect(run.stderr, said).toContain(
        `ALTER DEFAULT PRIVILEGES FOR ROLE <maintenance role> IN SCHEMA "public" GRANT SELECT ON TABLES TO "${MONITOR}";`,
      );
    }
    // From the API the same refusal is a PgpartsError (it was Drizzle's own error, no code).
    const monitor = postgres(urlAs(MONITOR), { max: 1, onnotice: () => {} });
    try {
      for (const read of [
        () => inspect(drizzle(monitor), builtInFamilies),
        () => prometheusMetrics(drizzle(monitor), builtInFamilies),
      ]) {
        const error = expectPgpartsError(await rejection(read()), 'query-failed', {
          message: /^pgparts: inspect: permission denied for table \S+ \(SQLSTATE 42501\)/,
        });
        expect(error.sqlState).toBe('42501');
      }
    } finally {
      await monitor.end();
    }
    // With the grants it listed, status runs.
    await t.sql.unsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${MONITOR}`);
    const run = await pgparts(urlAs(MONITOR), 'status');
    expect(run.code, run.stderr).toBe(0);
  });
});
