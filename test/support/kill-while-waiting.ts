import type { TestDatabase } from './test-database.js';

/**
 * Takes a lock on `table` (resolves once held), then in the background waits until backend `pid`
 * is blocked on it, as the server reports it, terminates that backend and lets the lock go.
 */
export async function killWhileWaiting(t: TestDatabase, pid: number, table: string): Promise<void> {
  const holder = t.connect({ max: 1 });
  let markHeld = () => {};
  const held = new Promise<void>((resolve) => {
    markHeld = resolve;
  });
  // Not awaited (the caller goes on once the lock is held); its failure shows in the caller's
  // own assertions (the backend not killed), so it is not reported a second time as unhandled.
  const background = holder.begin(async (tx) => {
    await tx.unsafe(`LOCK TABLE "${table}" IN ACCESS EXCLUSIVE MODE`);
    markHeld();
    for (let i = 0; i < 500; i++) {
      const waiting =
        await t.sql`SELECT 1 FROM pg_stat_activity WHERE pid = ${pid} AND wait_event_type = 'Lock'`;
      if (waiting.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await t.sql`SELECT pg_terminate_backend(${pid})`;
  });
  background.catch(() => {});
  await Promise.race([held, background]);
}
