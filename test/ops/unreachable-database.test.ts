import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { builtInFamilies } from '../../src/domains/presets.js';
import { isPgpartsError } from '../../src/errors.js';
import { apply, drainKey, inspect, maintain } from '../../src/index.js';
import { freePort } from '../support/free-port.js';

const families = [...builtInFamilies];
const [leaderboard] = families;

/** What `operation` threw on a client of `url` (ended after). */
async function thrownFor(
  url: string,
  operation: (db: ReturnType<typeof drizzle>) => Promise<unknown>,
) {
  const client = postgres(url, { max: 2, onnotice: () => {} });
  try {
    return await operation(drizzle(client)).then(
      () => undefined,
      (error: unknown) => error,
    );
  } finally {
    await client.end({ timeout: 1 });
  }
}

describe('an operation against a database it cannot reach', () => {
  it('says it could not connect, where and why, and that nothing ran (not that a connection was lost)', async () => {
    const port = await freePort();
    const url = `postgres://app:secret@127.0.0.1:${port}/db`;
    const cases: [string, (db: ReturnType<typeof drizzle>) => Promise<unknown>][] = [
      ['apply', (db) => apply(db, { families })],
      ['maintain', (db) => maintain(db, { families })],
      ['inspect', (db) => inspect(db, families)],
      [
        'drain',
        (db) => drainKey(db, leaderboard as (typeof families)[number], { kind: 'list', value: 7 }),
      ],
    ];
    for (const [operation, run] of cases) {
      const error = await thrownFor(url, run);
      expect(isPgpartsError(error, 'connection'), String(error)).toBe(true);
      expect((error as Error).message).toBe(
        `pgparts: ${operation}: cannot reach the database (127.0.0.1:${port}): the connection was ` +
          'refused (is the server running on that host and port?) [ECONNREFUSED]. Nothing ran on ' +
          'that connection: run it again once the database can be reached',
      );
    }
  });

  it('a host name that does not resolve: a connection error too, not the resolver’s own', async () => {
    const error = await thrownFor('postgres://app:secret@nohost.invalid:5432/db', (db) =>
      apply(db, { families }),
    );
    expect(isPgpartsError(error, 'connection'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /^pgparts: apply: cannot reach the database \(nohost\.invalid(:5432)?\): the host name .*\[(ENOTFOUND|EAI_AGAIN)\]\. Nothing ran/,
    );
  });
});
