import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { GUESS_LOCK_TIMEOUT_MS } from '../../src/catalog/second-batch-guess.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { parseFamily } from '../../src/define/spec.js';
import { leaderboardFamily } from '../../src/domains/presets.js';
import { MAINTENANCE_LOCK_KEY } from '../../src/run/advisory-lock.js';
import { apply } from '../../src/run/apply.js';
import { quoteQualified } from '../../src/sql/identifiers.js';
import { openTransaction } from '../support/open-transaction.js';
import { messageTypes, startRelay } from '../support/protocol-relay.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();
const families = [leaderboardFamily];

/**
 * A TCP relay between a client and the server that counts the round trips the client waited
 * for: the times it sent a request it built after every request it had sent was answered (each
 * Sync or simple Query is answered by one ReadyForQuery; a describe ends in Flush and its
 * answer). The client runs in this process and reports each request it builds (`built`, as
 * postgres.js's debug hook): a write holding only requests built before those answers came is
 * no wait. postgres.js writes a pipelined batch of more than 1 kB in two writes, the second on
 * its event loop's next turn; a client slowed down may see every answer to the first before it
 * writes the second. With Nagle's algorithm on (postgres.js's default, as these clients have
 * it), the kernel also holds that second write until the server acknowledges the first, which
 * on a link with latency means until its answers are back: what this counts is the round trips
 * pgparts asks for, which a socket with Nagle's algorithm off gets (README, "Using it in an
 * app"). The request after a describe's answer is not built again: that write is a wait
 * whenever it follows one.
 */
async function flightCounter(target: string) {
  let flights = 0;
  /** Statements sent to ask for their parameter types first (postgres.js ends those with Flush). */
  let describes = 0;
  /** Requests sent and not yet answered with ReadyForQuery. */
  let unanswered = 0;
  let describing = false;
  /** Events in the order this process saw them: the last request built, the last answer in. */
  let clock = 0;
  let builtAt = 0;
  let answeredAt = 0;
  let describeAnswered = false;
  const relay = await startRelay(target, {
    onClientData: () => {
      const fromClient = messageTypes((type) => {
        // The startup is answered by ReadyForQuery too, once the session is set up.
        if (type === 'S' || type === 'Q' || type === 'startup') unanswered += 1;
        if (type === 'H') {
          describing = true;
          describes += 1;
        }
      }, true);
      return (chunk) => {
        if (unanswered === 0 && !describing && (builtAt > answeredAt || describeAnswered))
          flights += 1;
        describeAnswered = false;
        fromClient(chunk);
      };
    },
    onServerData: () =>
      messageTypes((type) => {
        if (type === 'Z') {
          unanswered -= 1;
          if (unanswered === 0) answeredAt = ++clock;
        }
        // A describe's answer ends with the statement's row description (or no data).
        if ((type === 'T' || type === 'n') && describing) {
          describing = false;
          describeAnswered = true;
        }
      }, false),
  });
  return {
    url: relay.url,
    /** postgres.js's debug hook: called as it builds each request. */
    built: () => {
      builtAt = ++clock;
    },
    reset: () => {
      flights = 0;
      describes = 0;
    },
    flights: () => flights,
    describes: () => describes,
    close: relay.close,
  };
}

const relays: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const relay of relays.reverse()) await relay.close();
});

async function settingsOf(client: ReturnType<typeof t.connect>) {
  const [row] = await client<Record<string, string>[]>`
    SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds,
           current_setting('search_path') AS sp, current_setting('lock_timeout') AS lt,
           current_setting('jit') AS jit, current_setting('plan_cache_mode') AS pcm,
           current_setting('statement_timeout') AS st`;
  return row;
}

/** A monthly family over rt_events, with `premake` months made ahead. */
const rtEvents = (premake: number) =>
  parseFamily({
    name: 'rt_events',
    tables: ['rt_events'],
    partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake },
    defaultPartition: true,
  });

/** Settings an app might run with, none of them pgparts's own. */
const appSettings = {
  TimeZone: 'America/New_York',
  DateStyle: 'SQL, DMY',
  search_path: 'public, pg_temp',
  plan_cache_mode: 'force_custom_plan',
  statement_timeout: 300_000,
};

/**
 * The fourth apply on a client of one connection made with `options`: its result and round trips.
 * The runs before it name the statements whose text comes back (run/session.ts): a statement is
 * named the second time its text is sent, or, when its values change from run to run, with its
 * parameters the second time its shape is sent.
 */
async function fourthRun(options: { prepare?: boolean }) {
  await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1'), (2, 'S2') ON CONFLICT DO NOTHING`;
  const relay = await flightCounter(t.url);
  relays.push(relay);
  const client = postgres(relay.url, {
    max: 1,
    onnotice: () => {},
    debug: relay.built,
    ...options,
  });
  relays.push({ close: () => client.end({ timeout: 5 }) });
  const db = drizzle(client);
  for (let i = 0; i < 3; i += 1) await apply(db, { families });
  relay.reset();
  const result = await apply(db, { families });
  return { result, flights: relay.flights() };
}

describe('a maintenance run that has nothing to do', () => {
  it('waits for two round trips on postgres.js, counted at the socket', async () => {
    // The first run on this client creates the seasons' partitions (its statements sent with
    // their values written in, unnamed); the next two name them on this connection.
    const { result, flights } = await fourthRun({});
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(result.plan?.steps).toEqual([]);
    // 1: the session's settings, the lock attempt, the catalog's first batch and, right behind
    // it, the run before's second batch (the records and DEFAULT's first probe), the statement
    // this run would build from the first batch's answer; 2: the catalog settings put back, the
    // run recorded, the lock released, the session's settings put back. (Three before the
    // second batch went out with the first.) The counter counts a wait only where every
    // request sent was answered: statements sent before the answers to those before them are
    // back (the settings put back unawaited) make fewer on a slower server. At most two.
    expect(flights).toBeLessThanOrEqual(2);
  });

  it("waits for two round trips on a new postgres.js connection too (a cron job's, the CLI's)", async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1'), (2, 'S2') ON CONFLICT DO NOTHING`;
    await apply(t.db, { families });
    const relay = await flightCounter(t.url);
    relays.push(relay);
    // A client of its own, as a process that runs once has: none of pgparts's statements has
    // been sent through it (each one with parameters would otherwise first ask for its types,
    // a round trip of its own that holds back those behind it).
    const client = postgres(relay.url, { max: 1, onnotice: () => {}, debug: relay.built });
    relays.push({ close: () => client.end({ timeout: 5 }) });
    await client`SELECT 1`;
    relay.reset();
    const result = await apply(drizzle(client), { families });
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(result.plan?.steps).toEqual([]);
    expect(relay.flights()).toBeLessThanOrEqual(2);
  });

  it('on a connection its client opened again (a server restart, a pool replacing an old connection), asks for few parameter types', async () => {
    await t.sql`INSERT INTO season (id, name) VALUES (1, 'S1'), (2, 'S2') ON CONFLICT DO NOTHING`;
    const relay = await flightCounter(t.url);
    relays.push(relay);
    const client = postgres(relay.url, { max: 1, onnotice: () => {}, debug: relay.built });
    relays.push({ close: () => client.end({ timeout: 5 }) });
    const db = drizzle(client);
    for (let i = 0; i < 3; i += 1) await apply(db, { families });
    // Its backend ends: postgres.js connects again, and the new connection has prepared nothing.
    const backend = async () =>
      (await client<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`)[0]?.pid;
    const pid = await backend();
    await t.sql`SELECT pg_terminate_backend(${pid ?? 0})`;
    // The first query after it may meet the closed connection; a later one opens a new one.
    let again: number | undefined;
    for (let i = 0; i < 5 && (again === undefined || again === pid); i += 1) {
      again = await backend().catch(() => undefined);
    }
    expect(again).toBeDefined();
    expect(again).not.toBe(pid);
    relay.reset();
    const result = await apply(db, { families });
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(result.plan?.steps).toEqual([]);
    // The texts that come back go named with their values written in: preparing one on the new
    // connection costs no round trip. Only the few whose values change from run to run (the
    // session's settings and the lock attempt carry the run's token, the run's record its
    // times) go named with their parameters, and ask for their types first, once per
    // connection, each a round trip that holds back what follows it. Every statement with
    // parameters did before.
    expect(relay.describes()).toBeLessThanOrEqual(3);
  });

  it('waits for two round trips on every run of a client made with prepare: false (behind a transaction-mode pooler)', async () => {
    // Such a client keeps no statement: each one with parameters would first ask for its types,
    // on every run, not only the first.
    const { result, flights } = await fourthRun({ prepare: false });
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(result.plan?.steps).toEqual([]);
    expect(flights).toBeLessThanOrEqual(2);
  });

  it("sends the run before's second catalog batch right behind the first, and uses its answer only when it is the same statement", async () => {
    // With an index leading with the key, DEFAULT's first look probes the months the planner
    // may make once DEFAULT holds rows, so its text follows the clock (one found empty the run
    // before gets the bare EXISTS: empty-defaults.ts).
    await t.sql.unsafe(`
      CREATE TABLE guess_events (at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE INDEX ON guess_events (at);`);
    const events = parseFamily({
      name: 'guess_events',
      tables: ['guess_events'],
      partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 2 },
      defaultPartition: true,
    });
    const sent: string[] = [];
    const client = postgres(t.url, {
      max: 1,
      onnotice: () => {},
      debug: (_connection, query) => sent.push(query),
    });
    const db = drizzle(client);
    // The second batch is the one with DEFAULT's first look.
    const secondBatches = () => sent.filter((q) => q.includes('AS occupied'));
    const run = async (now: Date) => {
      sent.length = 0;
      const result = await apply(db, { families: [events], now });
      expect(result).toMatchObject({ status: 'applied', ok: true, failed: 0 });
      return result;
    };
    const now = new Date();
    try {
      await run(now); // makes DEFAULT and the months
      await t.sql.unsafe(
        `INSERT INTO guess_events VALUES ('${addIntervals('month', intervalStart('month', now), -12).toISOString()}', 'stray')`,
      );
      await run(now); // finds DEFAULT holding rows: the next look carries the probes
      await run(now);
      // The same again: the run before's second batch goes out right behind the first, under a
      // lock_timeout of its own (put back right after it), is the statement this run builds, and
      // is not sent twice.
      expect((await run(now)).plan?.steps).toEqual([]);
      expect(secondBatches()).toHaveLength(1);
      const at = sent.indexOf(secondBatches()[0] as string);
      const shortened = sent.findIndex((q) =>
        q.includes(`set_config('lock_timeout', '${GUESS_LOCK_TIMEOUT_MS}ms', false)`),
      );
      const restored = sent.findIndex((q) => q.includes("set_config('lock_timeout', '500ms'"));
      expect(shortened).toBeGreaterThan(-1);
      expect(shortened < at && at < restored).toBe(true);
      // Right behind the lock attempt and the first batch, before anything sent on their answers.
      const lockAttempt = sent.findIndex((q) => q.includes('pg_try_advisory_lock'));
      const firstBatch = sent.findIndex((q, i) => i > lockAttempt && q.includes('json_agg'));
      expect(lockAttempt).toBeGreaterThan(-1);
      expect(shortened).toBe(firstBatch + 1);
      // Planned for a month later, the run probes DEFAULT for another month: the guess goes out
      // too, its answer is dropped, and the run's own statement follows it.
      const later = new Date(now.getTime() + 31 * 86_400_000);
      const moved = await run(later);
      expect(moved.plan?.steps.map((s) => s.kind)).toEqual(['create']);
      const [guess, own] = secondBatches();
      expect(secondBatches()).toHaveLength(2);
      expect(own).not.toBe(guess);
    } finally {
      await client.end({ timeout: 5 });
    }
  });

  it('waits for two round trips with rows in DEFAULT too, where an index leads with the key', async () => {
    await t.sql.unsafe(`
      CREATE TABLE rt_events (at timestamptz NOT NULL, note text) PARTITION BY RANGE (at);
      CREATE INDEX ON rt_events (at);`);
    const events = rtEvents(2);
    const relay = await flightCounter(t.url);
    relays.push(relay);
    const client = postgres(relay.url, { max: 1, onnotice: () => {}, debug: relay.built });
    relays.push({ close: () => client.end({ timeout: 5 }) });
    const db = drizzle(client);
    // The first run makes DEFAULT (pgparts's own) and the months.
    expect((await apply(db, { families: [events] })).ok).toBe(true);
    // No autovacuum on them: its lock on DEFAULT would make the runs below wait and retry.
    await t.sql.unsafe(
      'ALTER TABLE rt_events_default SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)',
    );
    // Stray rows of a month a year back: DEFAULT holds rows, of no key the planner asks about.
    await t.sql.unsafe(`
      INSERT INTO rt_events SELECT date_trunc('month', now()) - interval '1 year' + i * interval '1 minute', 'stray'
      FROM generate_series(1, 2000) i`);
    // Two runs name the statements that come back (see fourthRun).
    await apply(db, { families: [events] });
    await apply(db, { families: [events] });
    relay.reset();
    const result = await apply(db, { families: [events] });
    expect(result.plan?.steps).toEqual([]);
    // At most two, as above: the second batch is the run before's.
    expect(relay.flights()).toBeLessThanOrEqual(2);
    // The snapshot the run planned from saw those rows, and their key.
    const rows = (await inspect(t.db, [events])).families[0]?.tables[0]?.partitions[0]?.defaultRows;
    expect(rows?.hasRows).toBe(true);
    expect(rows?.found).toHaveLength(1);
  });

  it('creating next month past stray rows in DEFAULT: two round trips more for the step', async () => {
    // rt_events from the test before: stray rows of a month a year back in DEFAULT.
    const events = rtEvents(3);
    const relay = await flightCounter(t.url);
    relays.push(relay);
    const client = postgres(relay.url, { max: 1, onnotice: () => {}, debug: relay.built });
    relays.push({ close: () => client.end({ timeout: 5 }) });
    const db = drizzle(client);
    // Names this connection's statements first (no-ops with the spec as installed): the first
    // run on a client sends them with their values written in, the second names them.
    await apply(db, { families: [rtEvents(2)] });
    await apply(db, { families: [rtEvents(2)] });
    relay.reset();
    const result = await apply(db, { families: [events] });
    expect(result.results.map((r) => [r.step.kind, r.outcome, r.attempts])).toEqual([
      ['create', 'done', 1],
    ]);
    // The CHECK that spares the ATTACH its scan of DEFAULT was added and validated first.
    expect(result.plan?.steps[0]?.prepare).toHaveLength(2);
    // The no-op's two, and for the step: the catalog settings back with the CHECK's ADD and
    // VALIDATE; BEGIN, the create's statements and COMMIT. One more: the no-op's second batch
    // goes out with the first but is not the statement this run needs (it probes the month
    // about to be made), so its answer is dropped and the run's own follows, a text new to this
    // connection, for which postgres.js asks for the parameter types first (once per text): at
    // most five (six before the guess went out with the first batch).
    expect(relay.flights()).toBeLessThanOrEqual(5);
    const [row] = await t.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM rt_events`;
    expect(row?.n).toBe(2000);
  });

  it("gives the connection back with the app's own settings", async () => {
    const client = t.connect({ max: 1, connection: appSettings });
    const before = await settingsOf(client);
    expect(before?.tz).toBe('America/New_York');
    const result = await apply(drizzle(client), { families });
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(await settingsOf(client)).toEqual(before);
  });
});

describe('a maintenance run that retires a month', () => {
  it("takes the key lock, reads the operation records and the retire's preflight in one round trip", async () => {
    await t.sql.unsafe(`CREATE TABLE rt_old (id bigint NOT NULL, at timestamptz NOT NULL,
      PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`);
    const rtOld = (past: number, keep?: number) =>
      parseFamily({
        name: 'rt_old',
        tables: ['rt_old'],
        partitionBy: { strategy: 'range', column: 'at', interval: 'month', premake: 1, past },
        defaultPartition: true,
        ...(keep ? { retention: { keep, mode: 'drop' as const } } : {}),
      });
    const now = new Date('2026-01-15T12:00:00Z');
    // November to February and DEFAULT; the first change also makes pgparts's bookkeeping.
    expect((await apply(t.db, { families: [rtOld(2)], now })).failed).toBe(0);
    const relay = await flightCounter(t.url);
    relays.push(relay);
    const client = postgres(relay.url, { max: 1, onnotice: () => {}, debug: relay.built });
    relays.push({ close: () => client.end({ timeout: 5 }) });
    const db = drizzle(client);
    // Names this connection's statements first: the catalog's, and the retire's preflight
    // (the run plans the retire, whose statements it reads, and skips it: not allowed to drop).
    // (The first run on a client sends them with their values written in; the second names them.)
    await apply(db, { families: [rtOld(1, 1)], now });
    const skipped = await apply(db, { families: [rtOld(1, 1)], now });
    expect(skipped.results.map((r) => [r.step.kind, r.outcome])).toEqual([['retire', 'skipped']]);
    relay.reset();
    const result = await apply(db, { families: [rtOld(1, 1)], now, allowDestructive: true });
    expect(result.results.map((r) => [r.step.kind, r.step.label, r.outcome])).toEqual([
      ['retire', '2025-11-01..2025-12-01', 'done'],
    ]);
    // One catalog round trip (the run before's second batch goes out with the first); the
    // catalog settings back with the key's locks, the operation records and the step's
    // preflight read right behind them (its BEGIN, reads and COMMIT sent together): the retire's
    // facts, read once, under its key's lock; the DETACH with the operation's record ahead of it
    // in its transaction, and right behind it, unanswered, the DROP (its guard first) with the
    // key recorded retired and the record deleted; the key's locks given back with the run's
    // record, the run's lock and its settings: at most four (five when the DROP waited for the
    // DETACH's answer; six when the plan read the retire's facts for its statements first, as a
    // dry run and a skipped retire still do; seven when the second catalog batch waited for the
    // lock's reply; ten when the preflight waited for its COMMIT, the record had a round trip of
    // its own and the key's unlock waited for its reply; on a connection new to the preflight's
    // text, postgres.js asks for its parameter types first, and sends the COMMIT once the
    // preflight has answered: two more).
    expect(relay.flights()).toBeLessThanOrEqual(4);
    // The result's plan carries the statements the retire built under its key's lock.
    expect(result.plan?.steps[0]?.sql).toContain('DROP TABLE "public"."rt_old_2025_11"');
    const [gone] = await t.sql<
      { t: string | null }[]
    >`SELECT to_regclass('rt_old_2025_11')::text AS t`;
    expect(gone?.t).toBeNull();
  });
});

/** The leaderboard's runs table's DEFAULT partition, as inspect reads it. */
async function leaderboardDefault() {
  const snapshot = await inspect(t.db, families);
  const fallback = snapshot.families[0]?.tables[0]?.partitions.find((p) => p.isDefault);
  if (!fallback) throw new Error('the leaderboard has no DEFAULT partition');
  return fallback;
}

describe('a maintenance run whose catalog read waits for a lock', () => {
  it("retries the read, and still gives the connection back with the app's own settings", async () => {
    const fallback = await leaderboardDefault();
    const client = t.connect({ max: 1, connection: appSettings });
    const before = await settingsOf(client);
    // Another session holds DEFAULT: the read's probe of it waits lock_timeout, gives up, and
    // is tried again once the watcher has seen one attempt give up.
    const holder = await openTransaction(t.connect({ max: 1 }), [
      `LOCK TABLE ${quoteQualified(fallback.schema, fallback.name)} IN ACCESS EXCLUSIVE MODE`,
    ]);
    const watcher = t.connect({ max: 1 });
    // The wait for DEFAULT now, as the server shows it: when it started and how long it has
    // lasted (ms), or null when none waits.
    const waiting = () =>
      watcher<{ since: string; ms: number }[]>`
        SELECT l.waitstart::text AS since,
               (extract(epoch FROM clock_timestamp() - l.waitstart) * 1000)::float8 AS ms
        FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE NOT l.granted AND l.waitstart IS NOT NULL AND c.relname = ${fallback.name}
        ORDER BY l.waitstart LIMIT 1`.then((rows) => rows[0] ?? null);
    // Tries enough that the holder, released once the watcher has seen one attempt give up,
    // lets go before the last of them (a loaded machine slows the watcher's polling).
    const running = apply(drizzle(client), {
      families,
      lockTimeoutMs: 200,
      retries: 50,
      backoffMs: 20,
      maxBackoffMs: 20,
    });
    // A wait of 100 ms or more is the read's own (the second batch sent ahead gives up after
    // GUESS_LOCK_TIMEOUT_MS). It gave up when a later look finds no wait, or a wait that started
    // after it (the retry): the server's waitstart, so a watcher slowed by a loaded machine,
    // which may never look between an attempt and the next, still sees it.
    let longWait: string | null = null;
    let sawGiveUp = false;
    for (let i = 0; i < 2000 && !sawGiveUp; i += 1) {
      const wait = await waiting();
      if (longWait === null) {
        if (wait && wait.ms >= 100) longWait = wait.since;
      } else if (wait === null || wait.since !== longWait) {
        sawGiveUp = true;
      }
    }
    await holder.commit();
    const result = await running;
    expect(longWait).not.toBeNull();
    expect(sawGiveUp).toBe(true);
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(await settingsOf(client)).toEqual(before);
  });
});

/**
 * The longest lock wait the server shows in this database while `until` is pending, in ms
 * (pg_locks.waitstart, polled on a connection of its own: a lower bound); other test files run
 * alongside on the same server.
 */
async function longestLockWait(until: Promise<unknown>): Promise<number> {
  const watcher = t.connect({ max: 1 });
  let done = false;
  let longest = 0;
  until.finally(() => {
    done = true;
  });
  while (!done) {
    const [row] = await watcher<{ ms: number | null }[]>`
      SELECT max(extract(epoch FROM clock_timestamp() - waitstart) * 1000)::float8 AS ms
      FROM pg_locks
      WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    longest = Math.max(longest, row?.ms ?? 0);
  }
  await watcher.end({ timeout: 5 });
  return longest;
}

describe('a maintenance run that finds the lock taken', () => {
  it('returns locked at once, even while the run holding the lock holds DEFAULT: the second batch sent ahead gives up on it', async () => {
    const fallback = await leaderboardDefault();
    // A run before this one in the process: its second batch (DEFAULT's probe among it) is the
    // one the next run sends right behind its first.
    expect((await apply(t.db, { families })).status).toBe('applied');
    // The other run: holds the maintenance lock, and DEFAULT, in one open transaction.
    const other = t.connect({ max: 1 });
    const holder = await openTransaction(other, [
      `SELECT pg_advisory_lock(${MAINTENANCE_LOCK_KEY[0]}, ${MAINTENANCE_LOCK_KEY[1]})`,
      `LOCK TABLE ${quoteQualified(fallback.schema, fallback.name)} IN ACCESS EXCLUSIVE MODE`,
    ]);
    const sent: string[] = [];
    const client = t.connect({ max: 1, debug: (_connection, query) => sent.push(query) });
    const running = apply(drizzle(client), { families, lockTimeoutMs: 5000 });
    const waited = await longestLockWait(running);
    const result = await running;
    expect(result.status).toBe('locked');
    expect(result.plan).toBeNull();
    // The probe was sent, and waited for DEFAULT no longer than its own lock_timeout, not the
    // run's 5 s (the server's view; the holder still holds DEFAULT).
    expect(sent.some((q) => q.includes('AS occupied'))).toBe(true);
    expect(waited).toBeLessThan(1000);
    await holder.rollback();
    await other`SELECT pg_advisory_unlock_all()`;
    // That guess failed, so it is forgotten: the next run sends its second batch once it holds
    // the lock, and remembers it again.
    sent.length = 0;
    expect((await apply(drizzle(client), { families })).status).toBe('applied');
    const lockAttempt = sent.findIndex((q) => q.includes('pg_try_advisory_lock'));
    expect(sent.filter((q) => q.includes(`'${GUESS_LOCK_TIMEOUT_MS}ms'`))).toEqual([]);
    expect(sent.findIndex((q) => q.includes('AS occupied'))).toBeGreaterThan(lockAttempt);
  });
});

describe('a maintenance run whose second batch sent ahead finds DEFAULT held', () => {
  it('sends its own once the guess gave up, which waits for DEFAULT as every read does, and goes on', async () => {
    const fallback = await leaderboardDefault();
    expect((await apply(t.db, { families })).status).toBe('applied');
    const holder = await openTransaction(t.connect({ max: 1 }), [
      `LOCK TABLE ${quoteQualified(fallback.schema, fallback.name)} IN ACCESS EXCLUSIVE MODE`,
    ]);
    const sent: string[] = [];
    const client = t.connect({ max: 1, debug: (_connection, query) => sent.push(query) });
    const running = apply(drizzle(client), { families, lockTimeoutMs: 5000 });
    // Let go of DEFAULT once a read has waited for it longer than the guess would.
    const watcher = t.connect({ max: 1 });
    let longest = 0;
    for (let i = 0; i < 2000 && longest < 200; i += 1) {
      const [row] = await watcher<{ ms: number | null }[]>`
        SELECT max(extract(epoch FROM clock_timestamp() - l.waitstart) * 1000)::float8 AS ms
        FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE NOT l.granted AND c.relname = ${fallback.name}`;
      longest = Math.max(longest, row?.ms ?? 0);
    }
    await holder.commit();
    const result = await running;
    expect(longest).toBeGreaterThanOrEqual(200);
    expect(result).toMatchObject({ status: 'applied', ok: true });
    expect(result.plan?.steps).toEqual([]);
    // The guess and then the run's own second batch: the same statement, sent twice.
    const probes = sent.filter((q) => q.includes('AS occupied'));
    // On a failure, what the run sent, in order (one line each), says which of the two went out.
    const trace = sent.map((q, i) => `${i}: ${q.replace(/\s+/g, ' ').slice(0, 100)}`).join('\n');
    expect(probes, trace).toHaveLength(2);
    expect(probes[1]).toBe(probes[0]);
  });
});
