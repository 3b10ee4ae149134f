import type postgres from 'postgres';

/**
 * An app transaction left open: `statements` run in it, and it stays open (holding the locks
 * they took) until `commit()` or `rollback()`. Resolves once the statements ran, so the locks
 * are surely held. Either end gives the transaction's outcome: it rejects when the transaction
 * failed (its backend terminated, say); until then a failure is not reported as unhandled.
 */
export async function openTransaction(
  sql: postgres.Sql,
  statements: string[],
): Promise<{ commit: () => Promise<void>; rollback: () => Promise<void> }> {
  const ROLLBACK = 'rolled back on purpose';
  let end: (commit: boolean) => void = () => {};
  const ended = new Promise<boolean>((resolve) => {
    end = resolve;
  });
  let inside: () => void = () => {};
  const holding = new Promise<void>((resolve) => {
    inside = resolve;
  });
  const done = sql.begin(async (tx) => {
    for (const statement of statements) await tx.unsafe(statement);
    inside();
    if (!(await ended)) throw new Error(ROLLBACK);
  });
  done.catch(() => {});
  // A statement that fails ends the wait too; commit() or rollback() then reports it.
  await Promise.race([holding, done.then(noop, noop)]);
  return {
    commit: async () => {
      end(true);
      await done;
    },
    rollback: async () => {
      end(false);
      await done.catch((error: unknown) => {
        if (!(error instanceof Error && error.message === ROLLBACK)) throw error;
      });
    },
  };
}

function noop(): void {}
