import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import { expect, it } from 'vitest';
import { rowsOf } from '../../src/run/rows.js';
import { openSession, pgpartsSessionSettings } from '../../src/run/session.js';
import { useTestDatabase } from '../support/test-database.js';
import { within10s } from '../support/within.js';

const t = useTestDatabase({ migrated: false });

/** What `pending` settled with within 10 s: its error's code, 'ok', or 'pending'. */
async function settled(pending: Promise<unknown>): Promise<string> {
  const outcome = await within10s(pending);
  if (outcome === 'ok' || outcome === 'pending') return outcome;
  const error = outcome as { code?: string; cause?: { code?: string } };
  return error.cause?.code ?? error.code ?? String(error);
}

/**
 * A pool of one connection (the app's next query needs the one pgparts pinned), pgparts's session
 * pinned on it, its backend's pid, and a promise of the pool seeing that connection close.
 */
async function pinnedOnOwnPool() {
  let sawClose: () => void = () => {};
  const closed = new Promise<void>((done) => {
    sawClose = done;
  });
  const client = t.connect({ max: 1, onclose: () => sawClose() });
  const session = await openSession(drizzle(client), { settings: pgpartsSessionSettings() });
  const [row] = rowsOf<{ pid: number }>(
    await session.db.execute(sql`SELECT pg_backend_pid() AS pid`),
  );
  return { client, closed, session, pid: row?.pid ?? 0 };
}

it("a pinned postgres.js connection that closes between two statements: the next fails at once, and the app's pool works on", async () => {
  const { client, closed, session, pid } = await pinnedOnOwnPool();
  try {
    // Its backend is terminated while no statement runs on it (a DBA, a failover, a restart).
    await t.sql`SELECT pg_terminate_backend(${pid}::int)`;
    await closed;
    expect(await settled(session.db.execute(sql`SELECT 1`))).toBe('CONNECTION_CLOSED');
    expect(await settled(session.release())).toBe('ok');
    // postgres.js connects again for the app: the dead connection was not handed back as open.
    expect(await settled(client`SELECT 1 AS one`)).toBe('ok');
  } finally {
    await client.end({ timeout: 0 });
  }
});

it("a pinned postgres.js connection that dies under a statement: it fails, and the app's pool works on", async () => {
  const { client, closed, session, pid } = await pinnedOnOwnPool();
  try {
    const sleeping = settled(session.db.execute(sql`SELECT pg_sleep(30)`));
    // Terminated once the server shows it running the statement.
    for (;;) {
      const [active] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE pid = ${pid}::int AND state = 'active'`;
      if ((active?.n ?? 0) > 0) break;
    }
    await t.sql`SELECT pg_terminate_backend(${pid}::int)`;
    expect(await sleeping).toMatch(/^(57P01|CONNECTION_CLOSED)$/);
    await closed;
    expect(await settled(session.release())).toBe('ok');
    // postgres.js (3.4) gives the terminating error once more, to the query that connects again;
    // it settles, and the next one runs. (Handed back as open, the first never settled.)
    expect(await settled(client`SELECT 1 AS one`)).toMatch(/^(ok|57P01|CONNECTION_CLOSED)$/);
    expect(await settled(client`SELECT 1 AS one`)).toBe('ok');
  } finally {
    await client.end({ timeout: 0 });
  }
});

/**
 * A pool of one connection that pgparts has pinned a session of before (its later sessions send
 * statements named), and a promise of the pool seeing that connection close.
 */
async function warmClient() {
  let sawClose: () => void = () => {};
  const closed = new Promise<void>((done) => {
    sawClose = done;
  });
  const client = t.connect({ max: 1, onclose: () => sawClose() });
  const earlier = await openSession(drizzle(client));
  await earlier.release();
  return { client, closed };
}

it('statements queued behind one that first asks for its parameter types all fail when the connection dies under it', async () => {
  const { client, closed } = await warmClient();
  try {
    const session = await openSession(drizzle(client), { settings: pgpartsSessionSettings() });
    const [row] = rowsOf<{ pid: number }>(
      await session.db.execute(sql`SELECT pg_backend_pid() AS pid`),
    );
    const pid = row?.pid ?? 0;
    // New to the connection, with a parameter: postgres.js asks for its type first, and holds
    // the statements sent after it (a pipelined batch) until it has answered.
    const sleeping = settled(session.db.execute(sql`SELECT pg_sleep(${30}::float8)`));
    const queued = settled(session.db.execute(sql`SELECT 1`));
    for (;;) {
      const [active] = await t.sql<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE pid = ${pid}::int AND state = 'active' AND query LIKE '%pg_sleep%'`;
      if ((active?.n ?? 0) > 0) break;
    }
    await t.sql`SELECT pg_terminate_backend(${pid}::int)`;
    // The server's FATAL (57P01) or, when the socket's reset is read first (a loaded machine),
    // ECONNRESET: either way the connection's end, never a hang.
    expect(await sleeping).toMatch(/^(57P01|CONNECTION_CLOSED|ECONNRESET)$/);
    // It never settled: postgres.js does not send a held statement once the connection closed.
    expect(await queued).toMatch(/^(57P01|CONNECTION_CLOSED|ECONNRESET)$/);
    await closed;
    expect(await settled(session.release())).toBe('ok');
  } finally {
    await client.end({ timeout: 0 });
  }
});

it('a session whose first statement has parameters, its connection closed while idle: the next fails at once', async () => {
  const { client, closed } = await warmClient();
  try {
    const session = await openSession(drizzle(client));
    const [row] = rowsOf<{ pid: number }>(
      await session.db.execute(sql`SELECT pg_backend_pid() AS pid, ${7}::int AS seven`),
    );
    await t.sql`SELECT pg_terminate_backend(${row?.pid ?? 0}::int)`;
    await closed;
    // It was written to the closed socket from a timer (a TypeError thrown where no caller can
    // catch it), and never settled.
    expect(await settled(session.db.execute(sql`SELECT 1`))).toBe('CONNECTION_CLOSED');
    expect(await settled(session.release())).toBe('ok');
  } finally {
    await client.end({ timeout: 0 });
  }
});
