import { drizzle } from 'drizzle-orm/postgres-js';
import { expect, it } from 'vitest';
import { builtInFamilies } from '../../src/domains/presets.js';
import { isPgpartsError } from '../../src/errors.js';
import { apply } from '../../src/run/apply.js';
import { useTestDatabase } from '../support/test-database.js';
import { within10s } from '../support/within.js';

const t = useTestDatabase();
const families = [...builtInFamilies];

it('a run whose connection is killed at any moment settles: it ends with a connection error or finishes, and the next run completes what it left', async () => {
  // The kill lands from 0 to 20 ms after the run took its lock: before, between and during its
  // statements, with a pipelined batch in flight or held back. Every other run is the client's
  // second (statements sent named, new to the connection: each first asks for its types).
  const outcomes: string[] = [];
  for (let round = 0; round < 42; round += 1) {
    const warm = round % 2 === 1;
    const killAfterUs = (round >> 1) * 1000;
    const client = t.connect({ max: 2 });
    try {
      const db = drizzle(client);
      if (warm) await apply(db, { families });
      await t.sql`INSERT INTO season (id, name) VALUES (${100 + round}, ${`S${100 + round}`})`;
      const outcome = await within10s(
        apply(db, {
          families,
          onProgress: (event) => {
            if (event.type !== 'lock-acquired') return;
            const from = process.hrtime.bigint();
            const kill = () => {
              if (process.hrtime.bigint() - from < BigInt(killAfterUs) * 1000n) setImmediate(kill);
              // (A postgres.js query runs once something asks for its result.)
              else t.sql`SELECT pg_terminate_backend(${event.pid ?? 0}::int)`.catch(() => {});
            };
            kill();
          },
        }),
      );
      outcomes.push(
        outcome === 'ok' || outcome === 'pending'
          ? outcome
          : isPgpartsError(outcome, 'connection')
            ? 'connection'
            : String(outcome),
      );
    } finally {
      await client.end({ timeout: 0 });
    }
  }
  expect(outcomes.filter((o) => o !== 'ok' && o !== 'connection')).toEqual([]);
  expect(outcomes.filter((o) => o === 'connection').length).toBeGreaterThan(20);
  // The next run makes what the killed ones did not, and finds nothing left half done.
  expect(await apply(t.db, { families })).toMatchObject({ ok: true, failed: 0 });
  expect(await apply(t.db, { families })).toMatchObject({ ok: true, done: 0, failed: 0 });
  const [missing] = await t.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM season s
    WHERE to_regclass(format('leaderboard_run_s%s', s.id)) IS NULL`;
  expect(missing?.n).toBe(0);
}, 180_000);
