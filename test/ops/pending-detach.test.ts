import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { inspect } from '../../src/catalog/inspect.js';
import { addIntervals, intervalStart } from '../../src/define/intervals.js';
import { parseFamily } from '../../src/define/spec.js';
import { plan } from '../../src/plan/plan.js';
import { status } from '../../src/plan/status.js';
import { apply } from '../../src/run/apply.js';
import { REPO_ROOT } from '../cli/run-cli.js';
import { useTestDatabase } from '../support/test-database.js';

const t = useTestDatabase();

/** Runs one statement in a node process of its own; resolves with its exit code and stderr. */
function runStatement(
  url: string,
  statement: string,
): Promise<{ code: number | null; stderr: string }> {
  const script = `import postgres from 'postgres';
const sql = postgres(process.env.URL, { max: 1, onnotice: () => {} });
await sql.unsafe(process.env.STATEMENT);
await sql.end();`;
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, URL: url, STATEMENT: statement },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => done({ code, stderr }));
  });
}

/** No DEFAULT partition: retireKey detaches CONCURRENTLY. */
const events = parseFamily({
  name: 'pd_events',
  tables: ['pd_events'],
  partitionBy: { strategy: 'range', column: 'at', interval: 'day', premake: 1 },
});

describe('a DETACH ... CONCURRENTLY interrupted half-way', () => {
  it('is left "detach pending", shown by status, and finalized by the next apply with its SQL', async () => {
    await t.sql`CREATE TABLE pd_events (id bigint NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at)`;
    const now = new Date();
    const old = addIntervals('day', intervalStart('day', now), -20);
    expect((await apply(t.db, { families: [events], now: old })).ok).toBe(true);
    expect((await apply(t.db, { families: [events] })).ok).toBe(true);
    const name = `pd_events_${old.toISOString().slice(0, 10).replaceAll('-', '_')}`;
    await t.sql`INSERT INTO pd_events VALUES (1, ${old.toISOString()})`;

    // A reader's open transaction makes the detach's second phase wait for it.
    const reader = t.connect({ max: 1 });
    const observer = t.connect({ max: 1 });
    let holdRelease = () => {};
    const readerDone = reader.begin(async (tx) => {
      await tx`SELECT count(*) FROM pd_events`;
      await new Promise<void>((release) => {
        holdRelease = release;
      });
    });
    while (
      (
        await observer`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction' AND query LIKE '%count(*) FROM pd_events%'`
      ).length === 0
    ) {}

    // What retireKey runs for a family without DEFAULT, from another process: killing a backend
    // under a client makes that client's process report the lost connection, not this one.
    const detaching = runStatement(
      t.url,
      `ALTER TABLE "public"."pd_events" DETACH PARTITION "public"."${name}" CONCURRENTLY`,
    );
    // The server says the detach waits on a lock (its second phase); then its backend is killed.
    let pid: number | undefined;
    while (pid === undefined) {
      const [row] = await observer<{ pid: number }[]>`
        SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE '%DETACH PARTITION%CONCURRENTLY%' AND wait_event_type = 'Lock'
          AND pid <> pg_backend_pid()`;
      pid = row?.pid;
    }
    await observer`SELECT pg_terminate_backend(${pid})`;
    expect((await detaching).code).not.toBe(0);
    holdRelease();
    await readerDone;

    const [pending] = await t.sql<{ pending: boolean }[]>`
      SELECT inhdetachpending AS pending FROM pg_inherits WHERE inhrelid = ${`public.${name}`}::regclass`;
    expect(pending?.pending).toBe(true);

    const snapshot = await inspect(t.db, [events]);
    const partition = snapshot.families[0]?.tables[0]?.partitions.find((p) => p.name === name);
    expect(partition?.detachPending).toBe(true);
    const planned = plan([events], snapshot, snapshot.takenAt);
    const finalize = planned.steps.filter((s) => s.kind === 'finalize-detach');
    expect(finalize.map((s) => s.sql)).toEqual([
      [`ALTER TABLE "public"."pd_events" DETACH PARTITION "public"."${name}" FINALIZE`],
    ]);
    expect(finalize[0]?.destructive).toBe(false);
    const report = status([events], snapshot);
    expect(report.families[0]?.pending.map((s) => s.kind)).toContain('finalize-detach');
    expect(report.attention.join('\n')).toContain('run pgparts apply');

    const result = await apply(t.db, { families: [events] });
    expect(result.ok).toBe(true);
    expect(result.results.map((r) => [r.step.kind, r.outcome])).toEqual([
      ['finalize-detach', 'done'],
    ]);
    const [after] = await t.sql<{ n: number; rows: number }[]>`
      SELECT (SELECT count(*)::int FROM pg_inherits WHERE inhrelid = ${`public.${name}`}::regclass) AS n,
             (SELECT count(*)::int FROM ${t.sql(name)}) AS rows`;
    expect(after).toEqual({ n: 0, rows: 1 });
    const again = await apply(t.db, { families: [events] });
    expect(again.results).toEqual([]);
  });
});
