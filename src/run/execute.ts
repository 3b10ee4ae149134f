import { is, type SQL, sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import type { AnyPgDatabase } from './database.js';
import { sendsTogether } from './driver-capabilities.js';
import { affectedRowsOf, rowsOf } from './rows.js';

/** Runs a query and reads its rows, whatever the driver. */
export async function query<T>(db: AnyPgDatabase, statement: SQL | string): Promise<T[]> {
  return rowsOf<T>(
    await db.execute(typeof statement === 'string' ? sql.raw(statement) : statement),
  );
}

/** Runs one statement built from quoted identifiers and DDL literals only. */
export async function run(db: AnyPgDatabase, statement: string): Promise<void> {
  await db.execute(sql.raw(statement));
}

/** Runs one statement (quoted identifiers and literals only) and returns the rows it wrote. */
export async function runCounted(db: AnyPgDatabase, statement: string): Promise<number> {
  return affectedRowsOf(await db.execute(sql.raw(statement)));
}

/** Runs statements one after the other (DDL built from quoted identifiers only). */
export async function runAll(db: AnyPgDatabase, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await run(db, statement);
}

/**
 * Runs the statements of an open transaction sent together, not one round trip each: the
 * connection runs them in order, and once one fails the server refuses every later one (the
 * transaction is aborted), so nothing after a failure takes effect; the first failure is what
 * is thrown. On postgres.js this is one round trip, which also shortens how long the
 * transaction's locks are held; other drivers send them one after the other. Outside a
 * transaction a statement after a failed one would still run, so there they run one by one.
 */
export async function runInTransaction(
  tx: AnyPgDatabase,
  statements: readonly string[],
): Promise<void> {
  if (!is(tx, PgTransaction) || !sendsTogether(tx)) return runAll(tx, statements);
  await sendAll(tx, statements);
}

/**
 * Hands every statement to the driver at once, in order (an explicit `then`: `await` of a
 * driver's lazy query would hand it over a step later), waits for all of them to end, and
 * throws the first failure in order. Only where `db` sends statements together.
 */
async function sendAll(db: AnyPgDatabase, statements: readonly string[]): Promise<void> {
  const sent = statements.map((statement) => db.execute(sql.raw(statement)).then(() => undefined));
  const failed = (await Promise.allSettled(sent)).find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Runs `statements` as one transaction of their own, BEGIN and COMMIT included, all sent
 * together where the connection allows it (sendsTogether): one round trip, and the locks the
 * statements take are let go of without waiting a round trip for the COMMIT. Once a statement
 * fails the server refuses the rest, and COMMIT ends the aborted transaction as a ROLLBACK; the
 * first failure in order is thrown (BEGIN's, when the connection was lost before it). A COMMIT
 * that fails (a deferred check) is thrown too. Elsewhere, db.transaction with the statements
 * one after the other.
 */
export async function runAsTransaction(
  db: AnyPgDatabase,
  statements: readonly string[],
): Promise<void> {
  if (is(db, PgTransaction) || !sendsTogether(db)) {
    await db.transaction((tx) => runInTransaction(tx, statements));
    return;
  }
  await sendAll(db, ['BEGIN', ...statements, 'COMMIT']);
}

/**
 * runAsTransaction for a read that writes nothing: `first` (transaction-local settings), then the
 * one statement `read` sends, in a transaction of their own; its value is returned. Where the
 * connection sends statements together, BEGIN, `first`, the read and COMMIT go out at once (one
 * round trip); a failure aborts the transaction, COMMIT ends it as a ROLLBACK, and the first
 * failure in order is thrown. Elsewhere db.transaction. `read` must send its statement before
 * its first await: what it sent later would run after the COMMIT.
 */
export async function readAsTransaction<T>(
  db: AnyPgDatabase,
  first: readonly SQL[],
  read: (tx: AnyPgDatabase) => Promise<T>,
): Promise<T> {
  if (is(db, PgTransaction) || !sendsTogether(db)) {
    return db.transaction(async (tx) => {
      for (const statement of first) await tx.execute(statement);
      return read(tx as unknown as AnyPgDatabase);
    });
  }
  const sent = ['BEGIN', ...first].map((statement) =>
    db
      .execute(typeof statement === 'string' ? sql.raw(statement) : statement)
      .then(() => undefined),
  );
  const [, value] = await afterSent(Promise.all(sent), () =>
    afterSent(read(db), () => db.execute(sql.raw('COMMIT'))).then(([v]) => v),
  );
  return value;
}

/**
 * Sends `statements` one after the other, each its own transaction, where the connection allows
 * it without waiting for each reply (sendsTogether); the first failure in order is thrown once
 * all have ended. A statement after a failed one still runs: only for statements each of which
 * is harmless when one before it failed.
 */
export async function runEachSent(db: AnyPgDatabase, statements: readonly string[]): Promise<void> {
  if (!sendsTogether(db) || is(db, PgTransaction)) return runAll(db, statements);
  await sendAll(db, statements);
}

/**
 * Runs `work` behind `ahead`: a statement already sent on the same connection whose reply is not
 * awaited first, so that work's first statement goes out with it instead of one round trip later
 * (the connection runs statements in the order they are sent). `ahead` is started here, before
 * `work`, whatever kind of pending query it is. Should `ahead` fail, that is the error thrown,
 * not the one `work` met because of it (in a transaction, every statement after a failed one is
 * refused with 25P02). Returns ahead's result and work's.
 */
export async function afterSent<A, R>(
  ahead: PromiseLike<A>,
  work: () => Promise<R>,
): Promise<[A, R]> {
  const sent = ahead.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  let result: R;
  try {
    result = await work();
  } catch (error) {
    const first = await sent;
    throw first.ok ? error : first.error;
  }
  const first = await sent;
  if (!first.ok) throw first.error;
  return [first.value, result];
}

/**
 * afterSent on `db`: where it sends statements together (sendsTogether), as afterSent; elsewhere
 * `work` starts once `ahead` has answered (those drivers run one query at a time anyway).
 */
export async function afterSentOn<A, R>(
  db: AnyPgDatabase,
  ahead: PromiseLike<A>,
  work: () => Promise<R>,
): Promise<[A, R]> {
  if (sendsTogether(db)) return afterSent(ahead, work);
  const first = await ahead;
  return [first, await work()];
}
