import { PgpartsError } from '../errors.js';

/**
 * A run keeps its state in one server session: the maintenance lock (a session advisory lock),
 * the settings it runs with (lock_timeout, statement_timeout off, jit off), and, between its
 * statements, search_path and TimeZone while it reads the catalog. A transaction-mode pooler
 * (pgbouncer with pool_mode = transaction) hands each statement outside a transaction to any of
 * its server connections: the lock and the settings land on a server session other clients then
 * use, and two runs can both "hold" the lock. Two signs of it, each read from statements the run
 * sends anyway: the lock attempt and the settings before it ran in different server sessions,
 * or the server session already held the lock (someone else's run, on the same server session).
 */
export function pooledSessionError(what: string, why: string): PgpartsError {
  return new PgpartsError(
    'connection',
    `pgparts: ${what}: ${why}: the connection does not keep one server session, as a ` +
      'transaction-mode pooler (pgbouncer pool_mode = transaction) does not; nothing was changed. ' +
      'A maintenance run needs a session of its own for its lock and its settings: connect it ' +
      'directly to PostgreSQL or through a session-mode pool (the read-only status, plan and ' +
      'metrics work through either). If a run through such a pooler left the maintenance lock ' +
      "on a server connection, the pooler's reconnect of its server connections (pgbouncer: " +
      'RECONNECT) releases it.',
    { step: what, docs: 'docs/locking.md#poolers' },
  );
}
