import { drizzle } from 'drizzle-orm/postgres-js';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { killmailFamily } from '../../src/domains/killmails/partitioning.js';
import { plan } from '../../src/plan/plan.js';
import { apply } from '../../src/run/apply.js';
import { openTransaction } from '../support/open-transaction.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** The configured bound; writers must never wait longer than this behind pgparts's DDL. */
const LOCK_TIMEOUT_MS = 400;
/**
 * Time for the server to cancel the DDL's lock request once lock_timeout fires and wake the
 * writer queued behind it: scheduling, not waiting. The writer's wait is measured by the server
 * itself: clock_timestamp() - statement_timestamp() over the simple query protocol, where the
 * statement's clock starts when the Query message arrives, before parsing and locking (with the
 * extended protocol it restarts at Bind/Execute, after the lock wait).
 */
const WAKE_UP_MS = 150;

/**
 * Inserts a killmail and its enrichment (one statement) until stopped; returns each insert's wait
 * as the server saw it.
 */
function startWriter() {
  const writer = t.connect({ max: 1 });
  const waits: number[] = [];
  let writing = true;
  let id = 0;
  const done = (async () => {
    while (writing) {
      id += 1;
      const [row] = await writer
        .unsafe<{ waited: number }[]>(
          `WITH raw AS (
             INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
             VALUES (${id}, now(), 1, 1, '{}') RETURNING killmail_id, killmail_time)
           INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
           SELECT killmail_id, killmail_time, 1, '{}', '{}' FROM raw
           RETURNING (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::float8 AS waited`,
        )
        .simple();
      waits.push(Number(row?.waited));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  return {
    waits,
    stop: async () => {
      writing = false;
      await done;
    },
  };
}

/**
 * An app transaction left open after writing a killmail and its enrichment: it holds ROW
 * EXCLUSIVE on killmails_enriched until released. Creating a killmails_raw partition attaches it
 * to a table killmails_enriched references, which needs SHARE ROW EXCLUSIVE on killmails_enriched.
 */
async function startLongWriter() {
  const open = await openTransaction(t.connect({ max: 1 }), [
    `INSERT INTO killmails_raw (killmail_id, killmail_time, system_id, ship_type_id, raw_payload)
     VALUES (-1, now(), 1, 1, '{}')`,
    `INSERT INTO killmails_enriched (killmail_id, killmail_time, isk_value, module_tags, enrichment_blob)
     SELECT killmail_id, killmail_time, 1, '{}', '{}' FROM killmails_raw WHERE killmail_id = -1`,
  ]);
  return { stop: open.commit };
}

describe('apply against a table another transaction has locked', () => {
  it('gives up within lock_timeout, retries, reports it; writers are never blocked longer', async () => {
    const later = addIntervals('month', intervalStart('month', new Date()), 1);
    // The create step locks killmails_enriched (SHARE ROW EXCLUSIVE) before it attaches, so it
    // queues behind the open transaction, and every writer of killmails_enriched queues behind
    // the create until lock_timeout ends it (docs/postgres-behaviours.md#lock-levels).
    const holder = await startLongWriter();
    const writer = startWriter();
    const retries: number[] = [];
    let result: Awaited<ReturnType<typeof apply>>;
    try {
      result = await apply(drizzle(t.connect({ max: 2 })), {
        families: [killmailFamily],
        now: later,
        retention: false,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        retries: 2,
        backoffMs: 100,
        onProgress: (event) => {
          if (event.type === 'step-retry') retries.push(event.attempt);
        },
      });
    } finally {
      await writer.stop();
      await holder.stop();
    }

    // The step on killmails_raw gave up three times (1 + 2 retries), on lock_timeout each time.
    const raw = result.results.find((r) => r.step.tables[0] === 'killmails_raw');
    expect(raw).toMatchObject({ outcome: 'failed', attempts: 3, lockTimeouts: 3 });
    expect(raw?.message).toMatch(
      /^gave up after 3 attempt\(s\): each waited lock_timeout \(400 ms\) for a lock on killmails_raw/,
    );
    expect(retries).toEqual([1, 2]);
    // Its siblings for the same month are not created without it; the run reports, not throws.
    const siblings = result.results.filter((r) => r.step.tables[0] !== 'killmails_raw');
    expect(siblings.map((r) => r.outcome)).toEqual(['skipped', 'skipped']);
    expect(result.ok).toBe(false);
    expect(result.failed).toBe(1);

    // Writers were held up behind the DDL (the test saw the queue), never past the bound.
    expect(writer.waits.length).toBeGreaterThan(10);
    const longest = Math.max(...writer.waits);
    expect(longest).toBeGreaterThan(LOCK_TIMEOUT_MS / 2);
    expect(longest).toBeLessThanOrEqual(LOCK_TIMEOUT_MS + WAKE_UP_MS);

    // Once the open transaction is gone, the same apply goes through and leaves nothing to do.
    const again = await apply(t.db, { families: [killmailFamily], now: later, retention: false });
    expect(again.ok).toBe(true);
    expect(again.done).toBe(3);
    const snapshot = await inspect(t.db, [killmailFamily]);
    expect(plan([killmailFamily], snapshot, later, { retention: false }).steps).toEqual([]);
  });
});
