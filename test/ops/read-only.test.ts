import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STANDBY_EXIT_CODE } from '../../src/cli/standby.js';
import { builtInFamilies } from '../../src/domains/presets.js';
import { isPgpartsError } from '../../src/errors.js';
import { maintain } from '../../src/run/maintain.js';
import { pgparts } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

/** pgparts's own tables and the season's partitions: what a run would have made. */
async function made(): Promise<string[]> {
  const rows = await t.sql<{ name: string }[]>`
    SELECT relname AS name FROM pg_class
    WHERE relname LIKE 'pgparts\\_%' OR relname LIKE '%\\_s1' ORDER BY 1`;
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  // A season without partitions: apply would have work to do.
  await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1')`;
  // A fail-over or maintenance-window switch: new sessions start read-only (t.sql's are open).
  await t.sql.unsafe(`ALTER DATABASE "${t.name}" SET default_transaction_read_only = on`);
});

afterAll(async () => {
  await t.sql.unsafe(`ALTER DATABASE "${t.name}" RESET default_transaction_read_only`);
});

describe('on a primary whose transactions are read-only (default_transaction_read_only)', () => {
  it('maintain() refuses before planning with a PgpartsError, changing nothing', async () => {
    const before = await made();
    const client = t.connect({ max: 2 });
    const error = await maintain(drizzle(client), { families }).catch((e: unknown) => e);
    expect(isPgpartsError(error, 'unsupported-server'), String(error)).toBe(true);
    expect((error as Error).message).toBe(
      'pgparts: maintain: the database is read-only (transaction_read_only is on: ' +
        'default_transaction_read_only is set for the database or the role) and accepts no ' +
        'changes; nothing was done. Run it again once it takes writes (status and plan work meanwhile).',
    );
    expect(await made()).toEqual(before);
  });

  it('the CLI commands that change something say so and exit 3 before planning', async () => {
    const before = await made();
    for (const args of [['apply', '--yes'], ['drain', 'leaderboard_run', '1'], ['migrate']]) {
      const run = await pgparts(t.url, ...args);
      expect(run.code, `${args[0]}: ${run.stderr}`).toBe(STANDBY_EXIT_CODE);
      expect(run.stdout).not.toMatch(/step\(s\) to run/);
      expect(run.stderr.trim()).toMatch(
        new RegExp(`^pgparts: ${args[0]}: the database is read-only .*nothing was done`),
      );
    }
    const status = await pgparts(t.url, 'status');
    expect(status.code, status.stderr).toBe(0);
    expect(await made()).toEqual(before);
  });
});
